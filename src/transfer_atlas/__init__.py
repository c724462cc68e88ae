"""Transfer Atlas: which pretrained model, how much to freeze, how much data.

Kept import-free on purpose: job entry points import this package before they
know whether they need torch, and a bare ``import transfer_atlas`` must stay cheap.
"""

__version__ = "0.1.0"
