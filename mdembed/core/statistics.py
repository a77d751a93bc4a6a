"""The interval every table and figure gives: a mean over seeds and its 95% Student t interval."""

from __future__ import annotations

import math

import pandas as pd


def mean_interval(values: pd.Series) -> dict[str, float]:
    """n, mean and the 95% Student t interval of the mean (NaN bounds with fewer than 2 values)."""
    from scipy import stats  # here: a command refused for bad input answers without loading scipy

    x = values.dropna().to_numpy(dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}
