"""The engine on a Dask cluster: the same functions, run block by block with halos.

See ``docs/scaling.md``. :func:`analyze_dask` is :func:`geo.pipeline.analyze` on a
``distributed.Client``; :func:`connect` opens one from a scheduler address or
``local[:N]``.
"""

from .analyze import DaskOptions, analyze_dask
from .blocks import Block, Blocks, gaussian_radius, halo_cells, sub_grid
from .cluster import connect

__all__ = ["DaskOptions", "analyze_dask", "connect", "Block", "Blocks", "halo_cells", "gaussian_radius", "sub_grid"]
