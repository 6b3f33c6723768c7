"""Leaflet and plugin files vendored in ``maps/static``, so maps work with no internet.

Folium's pages load Leaflet, jQuery and each plugin from CDNs (the ``default_js`` and
``default_css`` lists of the map and of every plugin). :func:`localize_assets` swaps
those for the copies in :data:`STATIC_DIR`:

- ``inline``: the files' text goes into the page (CSS images as data URLs); one
  self-contained HTML file that opens anywhere;
- ``folder``: ``<script src="map_assets/...">`` next to the saved page
  (:func:`save_html` copies the files);
- ``url``: links under a URL prefix where a service serves :data:`STATIC_DIR`.

A resource with no local copy is an error (:class:`~maps.errors.MapAssetError`),
never a silent CDN link. Folium's Bootstrap, Font Awesome and awesome-markers files
are left out on purpose: no Vacuum map uses icon markers or Bootstrap styling.
Versions, sources and licences: ``maps/static/README.md``.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from branca.element import CssLink, Element, Figure, JavascriptLink
from folium.elements import JSCSSMixin

from geo.export import atomic_path

from .elements import walk
from .errors import MapAssetError, MapError
from .style import RawHTML

__all__ = [
    "STATIC_DIR",
    "Asset",
    "ASSETS",
    "NOT_NEEDED",
    "AssetMode",
    "localize_assets",
    "render_html",
    "save_html",
    "ASSET_FOLDER",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_FOLDER = "map_assets"
AssetMode = Literal["inline", "folder", "url"]


@dataclass(frozen=True)
class Asset:
    """One vendored file standing in for a folium resource of the same ``name``."""

    name: str
    kind: Literal["js", "css"]
    path: str  # relative to STATIC_DIR; its folder holds the licence
    package: str  # npm package@version it comes from
    licence: str

    @property
    def file(self) -> Path:
        return STATIC_DIR / self.path

    @property
    def folder(self) -> str:
        return self.path.split("/", 1)[0]


def _a(name: str, kind: Literal["js", "css"], path: str, package: str, licence: str) -> tuple[str, Asset]:
    return name, Asset(name, kind, path, package, licence)


ASSETS: dict[str, Asset] = dict([
    _a("leaflet", "js", "leaflet/leaflet.js", "leaflet@1.9.4", "BSD-2-Clause"),
    _a("leaflet_css", "css", "leaflet/leaflet.css", "leaflet@1.9.4", "BSD-2-Clause"),
    _a("jquery", "js", "jquery/jquery.min.js", "jquery@3.7.1", "MIT"),  # folium popups parse HTML with $()
    _a("markerclusterjs", "js", "markercluster/leaflet.markercluster.js", "leaflet.markercluster@1.5.3", "MIT"),
    _a("markerclustercss", "css", "markercluster/MarkerCluster.css", "leaflet.markercluster@1.5.3", "MIT"),
    _a("markerclusterdefaultcss", "css", "markercluster/MarkerCluster.Default.css",
       "leaflet.markercluster@1.5.3", "MIT"),
    _a("leaflet-heat.js", "js", "heat/leaflet-heat.min.js", "leaflet.heat@0.2.0 (folium's patched build)",
       "BSD-2-Clause"),
    _a("Control.Fullscreen.js", "js", "fullscreen/Control.FullScreen.js", "leaflet.fullscreen@3.0.0", "MIT"),
    _a("Control.FullScreen.css", "css", "fullscreen/Control.FullScreen.css", "leaflet.fullscreen@3.0.0", "MIT"),
    _a("leaflet_measure_js", "js", "measure/leaflet-measure.min.js", "leaflet-measure@2.1.7", "MIT"),
    _a("leaflet_measure_css", "css", "measure/leaflet-measure.css", "leaflet-measure@2.1.7", "MIT"),
    _a("Leaflet.Sync", "js", "sync/L.Map.Sync.js", "leaflet.sync@0.2.4", "BSD-3-Clause"),
])
"""folium resource name -> vendored file."""

NOT_NEEDED: dict[str, str] = {
    "bootstrap": "Bootstrap JS: no Vacuum map uses Bootstrap components",
    "bootstrap_css": "Bootstrap CSS: the maps carry their own CSS",
    "glyphicons_css": "Glyphicons: only for awesome-markers icons",
    "awesome_markers": "awesome-markers: Vacuum maps draw circle and div markers",
    "awesome_markers_css": "awesome-markers CSS",
    "awesome_markers_font_css": "Font Awesome: only for awesome-markers icons",
    "awesome_rotate_css": "awesome-markers rotation CSS",
}
"""folium resources dropped on purpose, with the reason."""

_URL_RE = re.compile(r"""url\((['"]?)([^)'"]+)\1\)""")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".jpg": "image/jpeg"}


def _needed(fig: Figure) -> list[Asset]:
    """The vendored assets the page's elements ask for, emptying their CDN lists."""
    found: dict[str, Asset] = {}
    for el in walk(fig):
        if not isinstance(el, JSCSSMixin):
            continue
        for name, url in [*el.default_js, *el.default_css]:
            if name in ASSETS:
                found.setdefault(name, ASSETS[name])
            elif name not in NOT_NEEDED:
                raise MapAssetError(f"{type(el).__name__} needs {name!r} ({url}) and maps/static has no copy; "
                                    "vendor it there and add it to maps.assets.ASSETS")
        el.default_js = []  # instance attributes: the class lists stay as folium has them
        el.default_css = []
    # Leaflet before everything, jQuery before folium's popups; the rest in page order
    first = [n for n in ("leaflet", "leaflet_css", "jquery") if n in found]
    return [found[n] for n in first] + [a for n, a in found.items() if n not in first]


def _inline_css(asset: Asset) -> str:
    text = asset.file.read_text(encoding="utf-8")
    base = asset.file.parent

    def data_url(m: re.Match[str]) -> str:
        ref = m.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:", "//")):
            return m.group(0)
        f = (base / ref).resolve()
        if not f.is_file():
            raise MapAssetError(f"{asset.file} refers to {ref}, which is not in maps/static")
        b64 = base64.b64encode(f.read_bytes()).decode("ascii")
        return f'url("data:{_MIME.get(f.suffix.lower(), "application/octet-stream")};base64,{b64}")'

    return _URL_RE.sub(data_url, text)


def _inline(asset: Asset) -> str:
    note = f"<!-- {asset.package} ({asset.licence}); vendored in maps/static/{asset.folder} -->"
    if asset.kind == "js":
        code = re.sub(r"</(script)", r"<\\/\1", asset.file.read_text(encoding="utf-8"), flags=re.I)
        code = re.sub(r"^//# sourceMappingURL=.*$", "", code, flags=re.M)  # the .map files are not vendored
        return f"{note}\n<script>{code}</script>"
    return f"{note}\n<style>{_inline_css(asset)}</style>"


def localize_assets(element: Element, mode: AssetMode = "inline", *, base_url: str = ASSET_FOLDER) -> list[Asset]:
    """Point the page holding ``element`` at the vendored assets; return those it uses.

    Call once the map is complete (plugins added later would still link their CDN).
    ``base_url`` is the relative folder (``folder``) or URL prefix (``url``).
    """
    fig = element.get_root()
    if not isinstance(fig, Figure):
        raise MapError("the map is not part of a page (folium Figure); build it with folium.Map")
    if mode not in ("inline", "folder", "url"):
        raise MapError(f"asset mode {mode!r}: use inline, folder or url")
    assets = _needed(fig)
    prefix = base_url.rstrip("/")
    for a in assets:
        if mode == "inline":
            fig.header.add_child(RawHTML(_inline(a)), name=a.name)
        else:
            link = JavascriptLink(f"{prefix}/{a.path}") if a.kind == "js" else CssLink(f"{prefix}/{a.path}")
            fig.header.add_child(link, name=a.name)
    return assets


def render_html(element: Element, assets: AssetMode = "inline", *, base_url: str = ASSET_FOLDER) -> str:
    """The whole page as HTML text, with local assets."""
    localize_assets(element, assets, base_url=base_url)
    return element.get_root().render()


def save_html(element: Element, path: str | os.PathLike[str], *, assets: AssetMode = "inline") -> Path:
    """Write the page holding ``element`` to ``path`` (atomically); return the path.

    ``inline`` writes one self-contained file. ``folder`` also copies the vendored
    files (with their licences) to ``map_assets/`` beside it.
    """
    out = Path(path)
    if not out.parent.is_dir():
        raise MapError(f"cannot write {out}: folder {out.parent} does not exist")
    used = localize_assets(element, assets, base_url=ASSET_FOLDER)
    text = element.get_root().render()
    if assets == "folder":
        for folder in sorted({a.folder for a in used}):
            dst = out.parent / ASSET_FOLDER / folder
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(STATIC_DIR / folder, dst)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
