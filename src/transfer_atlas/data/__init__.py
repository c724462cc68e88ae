"""Datasets: sources and loaders (with the file checks), prepared arrays, training subsets."""
