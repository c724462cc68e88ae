"""Statistics, in one place (each module imports only the ones above it):

- ``paired``: the paired test over seeds (Wilcoxon's signed-rank test on exact
  differences), the smallest p it can reach, Holm's correction and ``ALPHA``;
- ``ties``: which settings are within noise of the validation leader, and the tie rule;
- ``comparisons``: every pair of models at their chosen settings, and how a claim is worded;
- ``tau_intervals``: the bootstrap interval of a transferability ranking's weighted tau.

Nothing is imported here: ``views`` uses ``ties``, and ``comparisons`` uses ``views``.
"""
