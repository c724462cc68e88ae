"""Test and benchmark tooling: stand-in data, synthetic records, a headless-browser driver.

Nothing in the library imports it.
"""
