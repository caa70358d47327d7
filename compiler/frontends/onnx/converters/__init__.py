"""ONNX op converters, one module per op family; importing registers them."""

from . import elementwise, nn, reduce, shape, misc, lowbit  # noqa: F401
