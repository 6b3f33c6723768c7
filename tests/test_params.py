"""Parameters: defaults documented, TOML loading, bad values named."""

import re
from pathlib import Path

import pytest

from geo.errors import ConfigError
from geo.params import PARAMETERS, Params, load_params

DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"


def test_every_parameter_has_unit_reason_and_doc_row():
    names = set(Params().as_dict())
    assert names == set(PARAMETERS)
    text = DOC.read_text(encoding="utf-8")
    for name, info in PARAMETERS.items():
        assert info.unit and info.reason
        assert re.search(rf"^\| `{name}` \|", text, flags=re.M), f"docs/model.md lacks a row for {name}"


def test_toml_overrides_and_merges_tables(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nmax_reach_h = 8.0\nroad_speeds_kmh = { "ferry" = 5.0 }\n')
    p = load_params(cfg, bandwidth_km=20)
    assert p.max_reach_h == 8.0 and p.bandwidth_km == 20
    assert p.road_speeds_kmh["ferry"] == 5.0 and p.road_speeds_kmh["trunk"] == 60.0


@pytest.mark.parametrize(
    "text, match",
    [
        ("[model]\nmax_reach_hours = 3\n", r"unknown model parameter\(s\) \['max_reach_hours'\]"),
        ("[model]\nmax_reach_h = -1\n", "max_reach_h must be a positive number"),
        ("[model]\nresponse_threshold_h = 9\n", "must be below max_reach_h"),
        ("[model]\ncoverage_at_reference = 1.0\n", "strictly between 0 and 1"),
        ("[model]\nclass_breaks = [20, 10, 60, 80]\n", "4 increasing numbers"),
        ("[modle]\nx = 1\n", r"unknown table\(s\) \['modle'\]"),
        ("[model\n", "not valid TOML"),
        ('[model]\nroad_speeds_kmh = { "trunk" = 0 }\n', r"road_speeds_kmh\['trunk'\] must be a positive speed"),
    ],
)
def test_bad_config_is_named(tmp_path, text, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_params(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_params(tmp_path / "nope.toml")
