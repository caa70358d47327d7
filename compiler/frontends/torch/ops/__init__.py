"""ATen → tg converters, one module per op family; importing this package registers them in `importer.ATEN`."""

from . import create, elementwise, nn, reduce, shape  # noqa: F401
