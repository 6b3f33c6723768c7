"""The bundled MINUSCA demo as service data: its layers uploaded, its analysis submitted.

Used by ``vacuum serve --demo`` (``VACUUM_DEMO=true``) at startup. Idempotent: layers
already loaded (recognised by name) are reused, and the analysis is submitted only when
no demo analysis at ``demo_resolution_m`` is done or under way.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

from api.auth import Identity, audit
from api.deps import Services
from api.layers import LAYER_KINDS, LayerOptions, ingest_layer
from api.mappage import DEMO_NAME

__all__ = ["DEMO_DIR", "DEMO_CONFIG", "DEMO_IDENTITY", "demo_layers", "ensure_demo"]

log = logging.getLogger("vacuum.api")

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "minusca"
DEMO_CONFIG = DEMO_DIR / "demo.toml"
DEMO_IDENTITY = Identity("system", "demo bootstrap", "admin")


def demo_layers() -> tuple[dict[str, tuple[Path, LayerOptions]], str]:
    """Kind -> (file, upload options) of the demo, and its as-of date (from demo.toml)."""
    doc = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    as_of = str(doc["run"]["as_of"])
    out = {}
    for kind, rel in doc["layers"].items():
        if kind not in LAYER_KINDS:
            continue  # population_units and the like
        opts: dict = {}
        if kind == "bases":
            opts["as_of"] = as_of
        if kind == "population":
            opts["population_units"] = doc["layers"].get("population_units", "count")
        out[kind] = (DEMO_DIR / rel, LayerOptions(**opts))
    return out, as_of


def ensure_demo(services: Services) -> str:
    """Load the demo layers if absent and submit the demo analysis if needed; return its job id."""
    storage, settings = services.storage, services.settings
    wanted, as_of = demo_layers()
    have = {r.kind: r for r in storage.list_layers() if r.name == f"MINUSCA demo {r.kind}"}
    ids = {}
    for kind, (path, opts) in wanted.items():
        rec = have.get(kind)
        if rec is None:
            staged = storage.tmp_dir() / f".demo-{kind}{path.suffix}"
            staged.write_bytes(path.read_bytes())
            try:
                rec = ingest_layer(storage, settings, kind=kind, source=staged, filename=path.name, options=opts,
                                   name=f"MINUSCA demo {kind}", created_by=DEMO_IDENTITY.key_id)
            finally:
                staged.unlink(missing_ok=True)
            audit(storage, DEMO_IDENTITY, "layer.upload", rec.id, kind=kind, filename=path.name)
            log.info("demo: loaded %s as %s", path.name, rec.id)
        ids[kind] = rec.id
    res = float(settings.demo_resolution_m)
    for job in storage.list_jobs(kind="analysis", statuses=("done", "queued", "running"), limit=1000):
        if job.name == DEMO_NAME and float(job.request.get("params", {}).get("resolution_m", 1000.0)) == res:
            return job.id
    from api.analyses import AnalysisRequest, check_request

    req = AnalysisRequest.model_validate({"name": DEMO_NAME, "layers": ids, "as_of": as_of,
                                          "params": {"resolution_m": res}})
    job = services.jobs.submit("analysis", check_request(storage, req), name=DEMO_NAME,
                               created_by=DEMO_IDENTITY.key_id, created_by_name=DEMO_IDENTITY.name)
    audit(storage, DEMO_IDENTITY, "analysis.submit", job.id, layers=ids, params=req.params)
    log.info("demo: analysis %s submitted at %g m", job.id, res)
    return job.id
