"""Vacuum's analysis engine: layers in, coverage-gap surfaces and products out.

`geo` imports no web or map code. Array functions (``*_array`` or plain numpy
signatures) hold the model and are tested by hand; GeoDataFrame wrappers check
CRS and columns and call them.
"""

__version__ = "0.1.0"
