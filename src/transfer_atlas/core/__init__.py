"""Building blocks with no dependencies beyond the standard library.

Atomic files, hashing, fault hooks.
"""
