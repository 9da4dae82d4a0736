"""The domain probe: does a picture look like the target domain? A logistic regression on (Inception) features,
fitted on the two domains' training pictures, and the fraction of a set it puts in the target domain (the domain
rate of ``cyclegan.evaluate``).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

INSTALL_HINT = "pip install -r requirements-eval.txt"


class DomainProbe:
    """A classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017): logistic regression on (Inception) features,
    fitted to tell the target domain (1) from the source domain (0) on training images; ``rate(features)`` is the
    fraction of images it puts in the target domain. Features are standardised, the classes weighted to balance."""

    def __init__(self, target: np.ndarray, source: np.ndarray, C: float = 0.1, seed: int = 0):
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
        except ImportError as e:
            raise ImportError(f"the domain rate needs scikit-learn: {INSTALL_HINT}") from e
        x = np.concatenate([target, source])
        y = np.concatenate([np.ones(len(target)), np.zeros(len(source))])
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000,
                                                                         random_state=seed))
        self.model.fit(x, y)
        self.num_target, self.num_source = len(target), len(source)

    def rate(self, features: np.ndarray) -> float:
        return float(self.model.predict(np.asarray(features, np.float64)).mean()) if len(features) else math.nan


def rate_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate measured on ``n`` pictures (a binomial proportion): it stays inside
    [0, 1] and keeps its width at rates near 0 or 1, where the normal approximation collapses. Plain arithmetic,
    so that the app's listing rule (``model_folder.beats_doing_nothing``) needs no statistics package."""
    if n <= 0 or not 0 <= rate <= 1:
        raise ValueError(f"a rate in [0, 1] of at least one picture, not {rate} of {n}")
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    # at a rate of 0 or 1 the bound is exactly that rate (the arithmetic leaves it a rounding error away)
    return (0.0 if rate == 0 else max(0.0, centre - half)), (1.0 if rate == 1 else min(1.0, centre + half))


def spread_files(files: Sequence[Path], n: int | None) -> list[Path]:
    """At most ``n`` of ``files``, evenly spread over the sorted list (a deterministic subsample)."""
    files = list(files)
    if not n or len(files) <= n:
        return files
    return [files[i * len(files) // n] for i in range(n)]
