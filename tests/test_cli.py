"""The CLI: wrong arguments get one line and a non-zero exit, never a traceback."""

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, real_data

from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "minusca"


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _args(tmp_path, **over):
    a = {
        "--bases": DEMO / "bases_geopko_v2.1.csv", "--events": DEMO / "events_ged_v23.1.csv",
        "--admin": DEMO / "admin1_naturalearth.geojson", "--out": tmp_path / "o", "--as-of": "2020-10-31",
    }
    a.update(over)
    argv = ["analyze", "--quiet", "--resolution", "5000"]
    for k, v in a.items():
        if v is not None:
            argv += [k, str(v)]
    return argv


@pytest.mark.parametrize(
    "over, match",
    [
        ({"--bases": "nope.csv"}, "--bases nope.csv: no such file"),
        ({"--bases": None}, "--bases is required"),
        ({"--admin": None}, "give the area of interest"),
        ({"--population": DEMO / "population_worldpop2020_density.tif"}, "--population-units is required"),
        ({"--set": "max_reach=3"}, r"unknown model parameter\(s\) \['max_reach'\]"),
        ({"--set": "max_reach_h=-2"}, "max_reach_h must be a positive number"),
        ({"--crs": "EPSG:999999"}, "bad CRS"),
        ({"--crs": "EPSG:4326"}, "must be projected"),
        ({"--population": DEMO / "bases_geopko_v2.1.csv", "--population-units": "count"}, "rasterio cannot read this file"),
        ({"--map": "strength=troops"}, "use LAYER.FIELD=COLUMN"),
        ({"--bases": DEMO / "events_ged_v23.1.csv"}, "base_id"),
        ({"--events": DEMO / "bases_geopko_v2.1.csv"}, "events"),
    ],
)
def test_bad_arguments_one_line_nonzero(tmp_path, capsys, over, match):
    import re

    code, err = _run(capsys, _args(tmp_path, **over))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("vacuum: error:"), err
    assert "Traceback" not in err
    assert re.search(match, lines[0]), lines[0]


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--as-of", "yesterday", "--out", "x"])
    assert e.value.code == 2
    assert "is not a date; use YYYY-MM-DD" in capsys.readouterr().err


def test_analyze_coarse_run_writes_summary(tmp_path, capsys):
    code = main(_args(tmp_path, **{"--as-of": "2020-10-31", "--map": None}))
    assert code == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["grid"]["resolution_m"] == 5000 and s["layers"]["bases"] == 20
    assert any("population" in t for t in s["terms_left_out"])
    out = capsys.readouterr().out
    assert "vacuum zones" in out and "critical" in out


@real_data
def test_geopko_file_of_all_missions_leaves_out_ended_ones(tmp_path, capsys):
    pko = SHARED_DATA / "geo_pko/geo_pko_v2.1_mli_cod_caf_ssd.csv"
    code = main(_args(tmp_path, **{"--bases": pko, "--as-of": "2020-10-31"}))
    err = capsys.readouterr().err
    assert code == 0
    assert "left out mission MONUC" in err and "left out mission MINUSMA" not in err


def test_swapped_coordinates_are_caught(tmp_path, capsys):
    p = tmp_path / "swapped.csv"
    p.write_text("base_id,strength,latitude,longitude\nb1,650,18.5,4.4\nb2,150,20.1,6.2\n")
    code, err = _run(capsys, _args(tmp_path, **{"--bases": p}))
    assert code == 2
    assert "none of the 2 bases lies on the analysis grid" in err and "are the columns swapped?" in err


def test_geopackage_layer_syntax(tmp_path, capsys):
    import geopandas as gpd

    admin = gpd.read_file(DEMO / "admin1_naturalearth.geojson")
    gpkg = tmp_path / "two.gpkg"
    admin.to_file(gpkg, layer="prefectures", driver="GPKG")
    admin.head(1).to_file(gpkg, layer="other", driver="GPKG")
    code, err = _run(capsys, _args(tmp_path, **{"--admin": gpkg}))
    assert code == 2 and "FILE.gpkg::name" in err
    code, err = _run(capsys, _args(tmp_path, **{"--admin": f"{gpkg}::prefectures"}))
    assert code == 0, err


@pytest.mark.parametrize("module, source, error, match", [
    ("cli.vacuum_test_no_such_command", None, ModuleNotFoundError, "No module named 'cli.vacuum_test_no_such_command'"),
    ("vacuum_test_broken_command", "import vacuum_test_missing_dependency\n", ModuleNotFoundError,
     "No module named 'vacuum_test_missing_dependency'"),
    ("vacuum_test_raising_command", "raise RuntimeError('command module failed at import')\n", RuntimeError,
     "command module failed at import"),
    ("vacuum_test_command_without_register", "def run(args):\n    return 0\n", TypeError,
     "vacuum_test_command_without_register is listed in cli.main.COMMAND_MODULES but has no register(subparsers)"),
    ("vacuum_test_raising_register", "def register(sub):\n    raise RuntimeError('register failed')\n", RuntimeError,
     "register failed"),
])
def test_a_subcommand_that_is_missing_or_broken_stops_the_cli(tmp_path, monkeypatch, module, source, error, match):
    """No subcommand is skipped: ``vacuum`` fails before parsing anything, whatever the command."""
    import re

    import cli.main

    if source is not None:
        (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(tmp_path)
    monkeypatch.setattr(cli.main, "COMMAND_MODULES", (*cli.main.COMMAND_MODULES, module))
    with pytest.raises(error, match=re.escape(match)):
        main(["demo", "--help"])


def test_every_listed_subcommand_is_offered(capsys):
    """Each module of COMMAND_MODULES registers its subcommand (named in its own module)."""
    import re

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    commands = set(re.search(r"\{([a-z,-]+)\}", capsys.readouterr().out).group(1).split(","))
    assert commands == {"analyze", "demo", "scenario", "backtest", "map", "serve", "pyramid", "export", "effect", "package",
                        "brief", "plan-keep", "monitor"}
