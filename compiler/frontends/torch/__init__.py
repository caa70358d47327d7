"""The PyTorch frontend: `torch.export` graphs into tg (docs/torch.md).

    prog = import_torch(module, (x,))                         # an nn.Module and example inputs
    prog = import_torch(module, (x,), dynamic_shapes={"x": {0: Dim("batch")}})
    prog = import_torch("model.pt2", input_shapes={"x": (4, 3, 224, 224)})   # a saved ExportedProgram

torch is an optional dependency (`pip install 'tensorc[torch]'`); this package
imports it only when a function is called, so `import tensorc` never needs it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from tensorc.diagnostics import TensorcError

INSTALL_HINT = "pip install 'tensorc[torch]'"


class TorchMissingError(TensorcError):
    """torch is not installed."""


def require_torch():
    """The torch module, or a TensorcError saying how to install it."""
    try:
        import torch
    except ImportError as e:
        raise TorchMissingError(
            f"the PyTorch frontend needs torch, which is not installed ({e.msg}); install it with: {INSTALL_HINT}"
        ) from None
    return torch


def import_torch(
    module: Any,
    example_args: Sequence[Any] | None = None,
    dynamic_shapes: Any = None,
    *,
    example_kwargs: Mapping[str, Any] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    source: str | None = None,
    quantize_weights=None,
):
    """A tg Program from a torch model, through `torch.export`.

    `module` is an `nn.Module` (exported in eval mode with `example_args`,
    `example_kwargs` and `dynamic_shapes`, as `torch.export.export` takes them),
    an `ExportedProgram`, or the path of one saved with `torch.export.save`
    (`.pt2`). The graph is decomposed with `DECOMPOSITIONS` (see
    `decompositions.py`), then each ATen op becomes tg ops. Shapes are static in
    tg: dynamic dimensions are bound to the example inputs' sizes, or for an
    ExportedProgram to `input_shapes` (`{input name: shape}`). `source` names
    the model in error messages (default: the path, or `import_torch`).
    `quantize_weights` (a spec such as "w4g128", see passes/quantize_weights.py) turns the
    weight of every Linear (and constant-weight matmul) into low-bit codes (tg.matmul_nbits).
    """
    require_torch()
    from .exporter import export
    from .importer import FxImporter

    ep, shapes = export(module, example_args, example_kwargs, dynamic_shapes, input_shapes, source)
    if source is None and isinstance(module, (str, os.PathLike)):
        source = os.fspath(module)
    prog = FxImporter(ep, shapes, source).run()
    if quantize_weights is not None:
        from tensorc.passes.quantize_weights import quantize_program_weights

        prog = quantize_program_weights(prog, quantize_weights)
    return prog


def input_names(ep) -> list[str]:
    """The names of an ExportedProgram's user inputs (its forward's parameter names), in order."""
    from .exporter import user_inputs

    return [n.name for n in user_inputs(ep)]


def load_exported(path):
    """An ExportedProgram saved with `torch.export.save`, with errors as TensorcErrors."""
    require_torch()
    from .exporter import load

    return load(path)


__all__ = ["import_torch", "load_exported", "input_names", "require_torch", "TorchMissingError", "INSTALL_HINT"]
