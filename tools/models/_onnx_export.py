"""Quiet, deterministic ``torch.onnx.export`` shared by the torch model builders."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import torch


@contextlib.contextmanager
def _silenced_fds():
    """Send fd 1/2 to a temp file; the text is attached to any exception.

    The exporters print from C++ (constant-folding notes, deprecation banners)
    straight to the file descriptors, which ``contextlib.redirect_stdout``
    cannot catch.  We keep the text so a failure is still diagnosable.
    """
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            try:
                yield
            except BaseException as exc:
                for fd, orig in zip((1, 2), saved):
                    os.dup2(orig, fd)
                sink.seek(0)
                text = sink.read().decode(errors="replace").strip()
                if text:
                    exc.add_note("exporter output:\n" + text[-4000:])
                raise
        finally:
            for fd, orig in zip((1, 2), saved):
                os.dup2(orig, fd)
                os.close(orig)


def export_onnx(
    module: torch.nn.Module,
    args: tuple,
    path: str | os.PathLike,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    opset: int = 17,
) -> Path:
    """Export ``module`` (in eval mode) to ``path`` as a single ONNX file.

    Uses the TorchScript exporter (``dynamo=False``): it honours the requested
    opset exactly, needs no onnxscript, is fast, and writes the weights inline.
    If a future torch drops it, fall back to the dynamo exporter (needs
    ``onnxscript``), which may emit a newer opset than requested.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    common = dict(
        input_names=list(input_names),
        output_names=list(output_names),
        opset_version=opset,
        dynamic_axes=dict(dynamic_axes) if dynamic_axes else None,
    )
    with warnings.catch_warnings(), _silenced_fds(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                do_constant_folding=True,
                export_params=True,
                **common,
            )
        except (TypeError, NotImplementedError, RuntimeError) as exc:
            if "dynamo" not in str(exc) and "TorchScript" not in str(exc):
                raise
            # Legacy exporter removed: the dynamo one with every weight inline.
            prog = torch.onnx.export(
                module, args, dynamo=True, external_data=False, **common
            )
            prog.save(str(path), external_data=False)
    _pin_static_output_dims(module, args, path, output_names, dynamic_axes or {})
    return path


def _pin_static_output_dims(module, args, path: Path, output_names, dynamic_axes) -> None:
    """Give outputs their static sizes where the exporter left a made-up symbol.

    With dynamic inputs the TorchScript exporter sometimes cannot infer an
    output dimension that is in fact constant (e.g. MiniLM's 384 after
    ``normalize``) and invents a name like ``Divembedding_dim_1``.  Every axis
    not declared dynamic is fixed to the size torch eager produces.
    """
    import onnx

    with torch.no_grad():
        outs = module(*args)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    model = onnx.load(str(path))
    changed = False
    for vi, name, out in zip(model.graph.output, output_names, outs):
        dyn = dynamic_axes.get(name, {})
        for axis, dim in enumerate(vi.type.tensor_type.shape.dim):
            if axis in dyn:
                if dim.dim_param != dyn[axis]:
                    dim.dim_param = dyn[axis]
                    changed = True
            elif not dim.HasField("dim_value"):
                dim.dim_value = int(out.shape[axis])
                changed = True
    if changed:
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
