"""The version is written once, in pyproject.toml; everything else reads it from there."""

import tomllib
from pathlib import Path

import pytest

import geo
from cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_geo_version_is_the_pyproject_version():
    assert geo.__version__ == _pyproject_version()


def test_cli_version_is_the_pyproject_version(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"vacuum {_pyproject_version()}"


def test_version_is_written_only_in_pyproject():
    version = _pyproject_version()
    holders = [p.relative_to(ROOT).as_posix()
               for d in ("geo", "api", "maps", "cli")
               for p in sorted((ROOT / d).rglob("*.py"))
               if f'"{version}"' in p.read_text(encoding="utf-8")]
    assert holders == []
