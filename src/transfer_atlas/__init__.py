"""Transfer Atlas: which pretrained model, how much to freeze, how much data.

Kept nearly import-free on purpose: job entry points import this package before they
know whether they need torch, and a bare ``import transfer_atlas`` must stay cheap.
The one thing it does is pin the CPU kernel choice of numpy and torch (portable
numerics, ``core.numerics``): it must happen before either loads, and every job's
process imports this package first.
"""

from transfer_atlas.core import numerics as _numerics

_numerics.apply()

__version__ = "0.1.0"
