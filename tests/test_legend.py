"""Legend classes match the engine's gap classes; colours are well formed."""

import numpy as np

from geo.legend import STYLES, colorize, style_for
from geo.params import Params
from geo.summaries import GAP_CLASS_NAMES, class_index


def test_gap_legend_matches_the_score_classes():
    s = style_for("gap")
    assert s.breaks == Params().class_breaks and s.labels == GAP_CLASS_NAMES
    v = np.array([0, 19.99, 20, 39.9, 40, 60, 79.9, 80, 100, np.nan])
    rgba = colorize(v, s)
    table = s.rgba_table()
    cls = class_index(v)
    for i in range(len(v) - 1):
        assert (rgba[i] == table[cls[i]]).all()
    assert rgba[-1, 3] == 0  # NaN transparent


def test_every_style_is_consistent():
    for name, s in STYLES.items():
        assert len(s.colors) == len(s.breaks) + 1 == len(s.labels), name
        assert list(s.breaks) == sorted(s.breaks), name
        assert all(c.startswith("#") and len(c) == 7 for c in s.colors), name
