"""Open an analysis folder's products in QGIS (PyQGIS, no screen) as a user would and save a
picture: the gap COG (QGIS applies gap.qml beside it) under the zones of vacuum.gpkg (QGIS
applies the styles in its layer_styles table; the admin units' style is checked, not drawn). Prints what QGIS reports of
each layer's CRS and renderer, so the styles and the CRS name are seen as QGIS sees them.

    QT_QPA_PLATFORM=offscreen python3 scripts/qgis_screenshot.py out/demo docs/img/qgis_styles.png

Uses the system Python with Debian's python3-qgis (QGIS 3.22), not the project's venv.
"""

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def main(folder: Path, out: Path) -> int:
    app = QgsApplication([], False)
    app.initQgis()
    gap = QgsRasterLayer(str(folder / "gap.tif"), "gap")
    gap.loadDefaultStyle()  # gap.qml beside the COG
    layers = [gap]
    for name in ("zones", "admin_summary"):
        v = QgsVectorLayer(f"{folder / 'vacuum.gpkg'}|layername={name}", name, "ogr")
        msg, ok = v.loadDefaultStyle()  # the GeoPackage's layer_styles row
        print(f"{name}: valid={v.isValid()} style from layer_styles: {ok} ({msg}); renderer "
              f"{v.renderer().type() if v.renderer() else None}; CRS {v.crs().authid() or v.crs().description()}")
        if name == "zones":  # drawn over the gap; admin_summary's style is a filled choropleth
            layers.insert(0, v)
    r = gap.renderer()
    print(f"gap: valid={gap.isValid()} renderer {r.type() if r else None}; CRS '{gap.crs().description()}'; "
          f"classes {len(r.shader().rasterShaderFunction().colorRampItemList()) if r and r.type() == 'singlebandpseudocolor' else '-'}")
    for lyr in layers:
        QgsProject.instance().addMapLayer(lyr)
    ms = QgsMapSettings()
    ms.setLayers(layers)
    ms.setDestinationCrs(gap.crs())
    ms.setExtent(gap.extent())
    ms.setOutputSize(QSize(1200, 800))
    ms.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(ms)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(out), "png")
    print(f"wrote {out}")
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
