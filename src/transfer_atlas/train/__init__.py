"""Training.

The loop, the out-of-memory policy, determinism, metrics, the pretrain / fine-tune jobs.
"""
