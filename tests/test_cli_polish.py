"""CLI help and mistakes: every option explained with its default, a misspelt command or
option answered with the nearest ones and the right usage, a progress bar on `vacuum pyramid`."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from cli.main import build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


def _options():
    for name, sp in _subparsers().items():
        for a in sp._actions:
            if a.option_strings and a.dest != "help":
                yield name, sp, a


def test_every_option_has_help():
    missing = [(name, a.option_strings[0]) for name, _, a in _options() if not (a.help or "").strip()]
    assert missing == []


def _paragraph(helptext: str, flags: list[str]) -> str:
    """An option's entry in ``--help``: its line (two spaces, then its flags) and the indented lines after it."""
    lines = helptext.splitlines()
    start = next(i for i, ln in enumerate(lines) if re.match(rf"  {re.escape(flags[0])}\b", ln))
    out = [lines[start]]
    for ln in lines[start + 1:]:
        if not ln.startswith("   "):  # the next option (two spaces) or section
            break
        out.append(ln)
    return " ".join(" ".join(out).split())


def test_every_default_is_shown_in_the_help():
    not_shown = []
    for name, sp, a in _options():
        if a.default is None or isinstance(a.default, bool) or a.default is argparse.SUPPRESS:
            continue
        if "default" not in _paragraph(sp.format_help(), a.option_strings):
            not_shown.append((name, a.option_strings[-1]))
    assert not_shown == []


def test_named_options_show_their_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "output folder (default: out/demo)" in out
    assert re.search(r"--jobs JOBS worker processes for travel times \(default: all cores\)", out)
    assert re.search(r"--quiet no progress bars", out)
    with pytest.raises(SystemExit):
        main(["pyramid", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--minzoom MINZOOM lowest zoom level to render (0..14) (default: 0)" in out
    assert "--maxzoom MAXZOOM highest zoom level to render (0..14)" in out and "(default: 8)" in out


def test_map_column_names_the_real_columns():
    from maps.folder import CRITICALITY_COLUMNS

    helptext = next(a.help for n, _, a in _options() if n == "map" and a.dest == "column")
    # the columns geo.decision.base_criticality writes, and those the map looks for
    for col in (*CRITICALITY_COLUMNS, "population_losing_cover", "new_high_critical_km2", "people_into_high_critical"):
        assert col in helptext


def test_misspelt_command_suggests_the_nearest(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demmo"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown command 'demmo'; did you mean 'demo'?" in err and err.startswith("usage: vacuum ")
    with pytest.raises(SystemExit):
        main(["zzzz"])
    err = capsys.readouterr().err
    assert "unknown command 'zzzz'" in err and "did you mean" not in err


def test_wrong_option_shows_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["pyramid", "some/folder", "--maxzom", "3"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: vacuum pyramid ")  # the subcommand's usage, not `vacuum [-h] ...`
    assert "vacuum pyramid: error: unrecognized arguments: --maxzom 3 (--maxzom: did you mean --maxzoom" in err
    with pytest.raises(SystemExit):
        main(["demo", "--bogus"])
    assert capsys.readouterr().err.startswith("usage: vacuum demo ")


def test_pyramid_progress_bar():
    from cli.pyramid import tile_bar

    f = io.StringIO()
    bar, progress = tile_bar("gap", file=f, enabled=True)
    progress(64, 85)
    progress(85, 85)
    bar.close()
    text = f.getvalue()
    assert "64/85" in text and "85/85" in text and "100%" in text
    f = io.StringIO()  # not a terminal: no bar
    bar, progress = tile_bar("gap", file=f)
    progress(85, 85)
    bar.close()
    assert f.getvalue() == ""
