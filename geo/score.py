"""The gap score: need (threat and exposure) left uncovered.

    need = (threat ** a * exposure ** b) ** (1 / (a + b))    weighted geometric mean
    gap  = 100 * need * (1 - coverage)
"""

from __future__ import annotations

import numpy as np

__all__ = ["gap_score"]


def gap_score(
    threat: np.ndarray, exposure: np.ndarray, coverage: np.ndarray,
    threat_weight: float = 2.0, exposure_weight: float = 1.0,
) -> np.ndarray:
    """Gap 0..100; NaN propagates (cells outside the area)."""
    if threat_weight <= 0 or exposure_weight <= 0:
        raise ValueError("threat_weight and exposure_weight must be > 0")
    t = np.clip(np.asarray(threat, dtype=np.float64), 0, 1)
    e = np.clip(np.asarray(exposure, dtype=np.float64), 0, 1)
    c = np.clip(np.asarray(coverage, dtype=np.float64), 0, 1)
    need = (t**threat_weight * e**exposure_weight) ** (1.0 / (threat_weight + exposure_weight))
    return 100.0 * need * (1.0 - c)
