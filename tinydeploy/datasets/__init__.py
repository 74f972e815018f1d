"""Datasets: each loader returns a `Dataset` of float features, integer labels and class names."""

from tinydeploy.datasets.base import Dataset, Split

__all__ = ["Dataset", "Split"]
