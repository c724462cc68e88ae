"""Networks.

Model builders, the zoo, freezing, weights, the on-device pipeline, costs, device
choice.
"""
