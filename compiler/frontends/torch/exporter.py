"""From an nn.Module (or a saved ExportedProgram) to a decomposed ExportedProgram.

The decomposition table
-----------------------
`torch.export` gives a graph of ATen ops at the level the model was written
(`aten.linear`, `aten.conv2d`, `aten.batch_norm`, `aten.scaled_dot_product_attention`,
...). `ExportedProgram.run_decompositions(table)` rewrites it to inference IR:
functional, training-only ops gone (`batch_norm` → `_native_batch_norm_legit_no_training`),
and every op in `table` replaced by its decomposition.

We start from torch's own `default_decompositions()` — the table that lowers to
the Core ATen opset, a stable set of ~190 ops — and *remove* from it the ops in
`KEEP`: high-level ops that tg has natively (one tg op, or a tg op plus a
reshape), whose decompositions would only scatter what tg and its backends
want to see whole (a layer norm as mean/sub/rsqrt/mul, attention as
matmul/softmax/masking, a linear as permute + addmm). Everything else arrives
as Core ATen. docs/torch.md lists the table and the op mapping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Any

from tensorc.diagnostics import ImportError_, ShapeError

#: ATen ops kept whole (removed from torch's Core-ATen decomposition table), with the tg op they map to.
KEEP: dict[str, str] = {
    "aten.linear.default": "tg.gemm (transB=1), with a reshape for N-D inputs",
    "aten.matmul.default": "tg.matmul (numpy semantics, broadcast batch dims)",
    "aten.einsum.default": "tg.einsum",
    "aten.layer_norm.default": "tg.layer_normalization",
    "aten.group_norm.default": "tg.group_normalization",
    "aten.rms_norm.default": "tg.rms_normalization",
    "aten.scaled_dot_product_attention.default": "tg.attention (ONNX Attention; is_causal, masks, GQA)",
    "aten.hardswish.default": "tg.hard_swish",
    "aten.hardsigmoid.default": "tg.hard_sigmoid (alpha=1/6, beta=1/2)",
    "aten.mish.default": "tg.mish",
    "aten.prelu.default": "tg.prelu",
    "aten.logsumexp.default": "tg.reduce_log_sum_exp",
    "aten.pixel_shuffle.default": "tg.depth_to_space (mode CRD)",
    "aten.tril.default": "tg.trilu (upper=0)",
    "aten.triu.default": "tg.trilu (upper=1)",
}


def decomposition_table():
    """torch's Core-ATen decomposition table minus the ops in `KEEP`."""
    import torch

    table = torch.export.default_decompositions()
    for name in KEEP:
        _, packet, overload = name.split(".")
        table.pop(getattr(getattr(torch.ops.aten, packet), overload), None)
    return table


def _first_line(e: BaseException) -> str:
    for line in str(e).strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(e).__name__


@contextlib.contextmanager
def quiet():
    """torch's own deprecation chatter (pytree FutureWarnings) and logged tracebacks stay out of our output:
    failures surface as our one-line errors instead."""
    log = logging.getLogger("torch.export")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        log.setLevel(level)


def load(path) -> Any:
    """A saved ExportedProgram (`torch.export.save`, usually `.pt2`)."""
    import torch

    from . import e3nn_modules  # noqa: F401  (registers the tensorc_e3nn ops a saved program may call)

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImportError_(f"{path}: no such file")
    try:
        with quiet():
            return torch.export.load(path)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad archive
        raise ImportError_(f"{path}: not a saved torch.export program ({_first_line(e)})") from None


def export(module, example_args, example_kwargs, dynamic_shapes, input_shapes, source=None) -> tuple[Any, dict]:
    """(decomposed ExportedProgram, {user input name: concrete shape})."""
    import torch

    if isinstance(module, (str, os.PathLike)):
        source = source or os.fspath(module)
        ep = load(module)
    elif isinstance(module, torch.export.ExportedProgram):
        ep = module
    elif isinstance(module, torch.nn.Module):
        if example_args is None and not example_kwargs:
            raise ImportError_("import_torch: an nn.Module needs example_args (a tuple of example inputs)")
        args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (example_args,)
        was_training = module.training
        module.eval()  # inference: batch norm uses its running statistics, dropout is off
        from .e3nn_modules import as_leaf_ops

        try:
            with quiet(), as_leaf_ops(module):  # e3nn modules export as single tensorc_e3nn ops
                ep = torch.export.export(module, args, kwargs=dict(example_kwargs or {}), dynamic_shapes=dynamic_shapes)
        except Exception as e:  # noqa: BLE001 - torch.export reports through many exception types
            raise ImportError_(f"torch.export failed for {type(module).__name__}: {_first_line(e)}") from e
        finally:
            module.train(was_training)
    else:
        raise ImportError_(
            f"import_torch: expected an nn.Module, an ExportedProgram or a .pt2 path, got {type(module).__name__}"
        )
    try:
        with quiet():
            ep = ep.run_decompositions(decomposition_table())
    except Exception as e:  # noqa: BLE001
        raise ImportError_(f"torch.export: decomposing the graph failed: {_first_line(e)}") from e
    shapes = _concrete_shapes(ep, example_args, example_kwargs, input_shapes, source)
    return ep, shapes


def user_inputs(ep) -> list:
    """The placeholder nodes of the user's inputs, in call order."""
    from torch.export.graph_signature import InputKind

    names = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    by_name = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    return [by_name[n] for n in names]


def _concrete_shapes(ep, example_args, example_kwargs, input_shapes, source) -> dict[str, tuple[int, ...]]:
    """The static shape of each tensor input: from the examples, from `input_shapes`, or from the graph."""
    import torch

    nodes = user_inputs(ep)
    names = [n.name for n in nodes]
    where = source or "import_torch"
    shapes: dict[str, tuple[int, ...]] = {}
    if example_args is not None or example_kwargs:
        args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (
            () if example_args is None else (example_args,))
        try:
            flat, _ = ep._get_flat_args_with_check(args, dict(example_kwargs or {}))
        except Exception as e:  # noqa: BLE001 - pytree / range-constraint errors
            raise ShapeError(f"{where}: the example inputs do not fit the exported program: {_first_line(e)}") from None
        for node, value in zip(nodes, flat):
            if isinstance(value, torch.Tensor):
                shapes[node.name] = tuple(int(d) for d in value.shape)
    unknown = set(input_shapes or {}) - set(names)
    if unknown:
        raise ShapeError(f"{where}: --input-shape names unknown input '{sorted(unknown)[0]}' (inputs: {', '.join(names)})")
    for name, shape in (input_shapes or {}).items():
        shapes[name] = tuple(int(d) for d in shape)
    for node in nodes:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            continue
        declared = list(val.shape)
        if node.name not in shapes:
            dyn = [i for i, d in enumerate(declared) if not isinstance(d, int)]
            if dyn:
                raise ShapeError(
                    f"{where}: input '{node.name}' has dynamic dimension {declared[dyn[0]]} (#{dyn[0]}); "
                    f"bind it with --input-shape {node.name}=... (or pass example inputs)"
                )
            shapes[node.name] = tuple(int(d) for d in declared)
            continue
        got = shapes[node.name]
        if len(got) != len(declared) or any(isinstance(d, int) and d != g for d, g in zip(declared, got)):
            want = ["?" if not isinstance(d, int) else d for d in declared]
            raise ShapeError(f"{where}: shape {list(got)} of input '{node.name}' does not fit the exported shape {want}")
    return shapes
