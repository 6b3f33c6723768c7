"""The engine on a Dask cluster: the same functions, run block by block with halos.

See ``docs/scaling.md``. ``analyze(..., executor=DaskExecutor(client))`` runs
:func:`geo.pipeline.analyze` on a ``distributed.Client``; :func:`connect` opens one
from a scheduler address or ``local[:N]``.
"""

from .blocks import Block, Blocks, gaussian_radius, halo_cells, sub_grid
from .cluster import connect
from .executor import DaskExecutor, DaskOptions

__all__ = ["DaskOptions", "DaskExecutor", "connect", "Block", "Blocks", "halo_cells", "gaussian_radius", "sub_grid"]
