"""Open a Dask client from what a user types: a scheduler address or ``local[:N]``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError

__all__ = ["connect", "parse_scheduler"]

_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_scheduler(spec: str) -> tuple[str, int | None]:
    """``("local", n_workers or None)`` or ``("address", None)``; raise on anything else."""
    s = spec.strip()
    m = _LOCAL.match(s)
    if m:
        n = int(m.group(1)) if m.group(1) else None
        if n is not None and n < 1:
            raise ConfigError(f"--dask {spec!r}: a local cluster needs at least 1 worker")
        return "local", n
    if re.match(r"^(tcp|tls|ucx|ws|wss)://\S+:\d+$", s) or re.match(r"^inproc://\S+$", s):
        return s, None
    raise ConfigError(
        f"--dask {spec!r}: give a scheduler address with its port, such as tcp://10.0.0.5:8786, "
        "or 'local' (a LocalCluster with one worker per core) or 'local:N' (N workers)"
    )


@contextmanager
def connect(spec: str, *, processes: bool = True, memory_limit: str | float | None = "auto") -> Iterator:
    """A ``distributed.Client`` for ``spec``, closed (with its local cluster) on exit.

    ``local[:N]``: a ``LocalCluster`` of N single-threaded worker processes (default:
    one per core); its scheduler's HTTP server (the dashboard) listens on a free port of
    127.0.0.1, so two local clusters never clash over 8787. An address: the scheduler of a running cluster
    (``dask scheduler`` / ``dask worker ADDRESS``); workers must import ``geo`` and
    read the population raster's path.
    """
    from distributed import Client, LocalCluster

    kind, n = parse_scheduler(spec)
    if kind == "local":
        n = n or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                               dashboard_address="127.0.0.1:0", memory_limit=memory_limit)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
    else:
        try:
            client = Client(kind, timeout="20s")
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            raise ConfigError(f"--dask {spec}: cannot reach the scheduler ({exc}); is `dask scheduler` running there?") from None
        with client:
            yield client
