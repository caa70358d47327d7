"""MLIR text in and out, with every dialect tensorc knows registered."""

from __future__ import annotations

from io import StringIO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer

from tensorc.context import make_context


def parse_module(text: str, ctx: Context | None = None, name: str = "<input>") -> ModuleOp:
    """Parse MLIR text (custom or generic syntax) into a module; raises xDSL's ParseError.

    A bare `func.func` without an enclosing `builtin.module` gets one, as in mlir-opt.
    """
    return Parser(ctx or make_context(), text, name).parse_module()


def print_module(module: ModuleOp, generic: bool = False) -> str:
    """The module as MLIR text ending in a newline; `generic=True` for the generic op form."""
    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()


__all__ = ["parse_module", "print_module"]
