"""Running standard deviations, for learners that divide rewards (or returns) by their scale."""

from __future__ import annotations

import numpy as np


def running_std(moments: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Add ``values`` (one per column) to Welford's running moments, the rows count, mean and sum of squared
    deviations of ``moments`` (updated in place); the sample standard deviation of each column so far, 1 where it
    is not yet defined or is about 0 (nothing to divide by)."""
    count, mean, m2 = moments
    count += 1
    delta = values - mean
    mean += delta / count
    m2 += delta * (values - mean)
    std = np.sqrt(m2 / np.maximum(count - 1, 1))
    return np.where(std > 1e-8, std, 1.0)
