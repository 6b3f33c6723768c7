"""Vacuum's analysis engine: layers in, coverage-gap surfaces and products out.

`geo` imports no web or map code. Array functions (``*_array`` or plain numpy
signatures) hold the model and are tested by hand; GeoDataFrame wrappers check
CRS and columns and call them.
"""

from importlib.metadata import version as _distribution_version

__all__ = ["__version__"]

__version__ = _distribution_version("vacuum")
"""The installed distribution's version; pyproject.toml is the one place it is written."""
