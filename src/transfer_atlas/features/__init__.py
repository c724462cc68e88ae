"""Frozen features: extraction, classical classifiers, transferability scores, 2-D embeddings."""
