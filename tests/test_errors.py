"""The engine's "not found" errors: one class, a KeyError too, with the known names in the message."""

import numpy as np
import pytest

from geo.coverage import BaseTerm, CoverageModel
from geo.errors import UnknownIdError, VacuumError
from geo.legend import style_for
from geo.traveltime import Reach


def test_an_unknown_surface_style_names_the_known_ones():
    with pytest.raises(UnknownIdError, match="no style for surface 'nope'; known: gap"):
        style_for("nope")


def test_an_unknown_base_in_the_coverage_model_names_the_known_ones():
    term = BaseTerm("b1", 1.0, 1.0, 2.0, Reach(np.array([0], dtype=np.int32), np.array([0.0])))
    model = CoverageModel((1, 1), [term])
    with pytest.raises(UnknownIdError, match="no base 'b9' in the coverage model; known: b1"):
        model.term("b9")


def test_unknown_id_is_an_engine_error_and_a_key_error_with_a_plain_message():
    err = UnknownIdError("no base 'x'")
    assert isinstance(err, VacuumError) and isinstance(err, KeyError)
    assert str(err) == "no base 'x'"  # not quoted, as KeyError would
