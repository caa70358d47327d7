"""Errors users see. Each is one line that names the file, node, op, input or flag at fault.

The CLI prints `error: <message>` for any TensorcError and exits non-zero;
tracebacks appear only with --debug.
"""

from __future__ import annotations


class TensorcError(Exception):
    """Base of all user-facing errors."""


class ImportError_(TensorcError):
    """A model cannot be imported (unreadable file, bad graph)."""


class UnsupportedOpError(ImportError_):
    """An op (or a form of it) the importer does not handle."""

    def __init__(self, node: str, op_type: str, opset: int | None, why: str = ""):
        self.node, self.op_type, self.opset = node, op_type, opset
        at = f"opset {opset}" if opset is not None else "opset ?"
        super().__init__(f"node '{node}': unsupported op {op_type} ({at})" + (f": {why}" if why else ""))


class ShapeError(TensorcError):
    """A dimension that must be static is not, or shapes disagree."""


class InputError(TensorcError):
    """A call-time input has the wrong name, shape or dtype."""


class PassError(TensorcError):
    """A pass failed or left invalid IR."""


class BackendError(TensorcError):
    """A target cannot compile or run the program."""
