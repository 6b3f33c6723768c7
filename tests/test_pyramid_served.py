"""Pre-rendered pyramids are served like any analysis: the tile renderer answers from them."""

import pytest

from api.tiles import TileRenderer
from cli.main import main
from geo.pyramid import MBTilesReader


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    out = tmp_path_factory.mktemp("a")
    assert main(["demo", "--out", str(out), "--quiet", "--resolution", "5000"]) == 0
    assert main(["pyramid", str(out), "--maxzoom", "5"]) == 0
    return out


def test_renderer_serves_pyramid_tiles_and_renders_the_rest(analysis):
    r = TileRenderer()
    with MBTilesReader(analysis / "gap.mbtiles") as mb:
        assert mb.minzoom == 0 and mb.maxzoom == 5 and mb.count() > 0
        # a zoom-5 tile over the CAR comes from the pyramid, byte for byte
        png, etag = r.render(analysis / "gap.tif", "gap", 5, 17, 15)
        assert png == mb.get(5, 17, 15)
        assert etag.startswith('"')
    # zoom 7 is not in the pyramid: rendered from the COG
    png7, _ = r.render(analysis / "gap.tif", "gap", 7, 70, 61)
    assert png7.startswith(b"\x89PNG")


def test_pyramid_cli_errors(analysis, capsys):
    assert main(["pyramid", str(analysis), "--minzoom", "6", "--maxzoom", "3"]) == 2
    assert "zoom range 6..3" in capsys.readouterr().err
    assert main(["pyramid", str(analysis / "nope")]) == 2
    assert "is " in capsys.readouterr().err
