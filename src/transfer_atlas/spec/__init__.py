"""The vocabulary and the study.

Every shared name, config resolution and checks, job specs, the run record (no torch, no
pandas).
"""
