"""Pass pipelines over Programs: parse a pipeline spec, run it, verify, print and dump.

    prog = run_passes(prog, "canonicalize,fold-constants{max-size=64}")
    prog = run_passes(prog, "cleanup", dump_dir="ir/")   # a named pipeline

A spec is xDSL's pipeline syntax (`pass-a,pass-b{opt=1 other=2}`); any element
may also be the name of a pipeline in NAMED_PIPELINES. The IR is verified
before the first pass and after every pass, so a pass that breaks it is named.
Passes reach the Program's weights through `tensorc.passes.weights`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import zipfile
from typing import IO, Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, get_pass_option_infos
from xdsl.utils.arg_spec import ArgSpec, parse_pipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException

from tensorc.context import make_context
from tensorc.diagnostics import PassError, TensorcError
from tensorc.ir_text import parse_module, print_module
from tensorc.passes import registry
from tensorc.passes.weights import use_weights, used_weight_names
from tensorc.program import Program, WeightStore

NAMED_PIPELINES: dict[str, str] = {
    # the graph cleanup every target starts with
    "cleanup": "canonicalize,fold-shapes,fold-constants,cse,dce",
    # low-bit weight matmuls → shared table precomputes + LUT mpGEMM on half tables (docs/lut.md §3)
    "lut": "lut-mpgemm,lut-symmetrize",
    # tg → native code: kernels of loops, the arena plan, then the llvm dialect
    "llvm-cpu": "lower-eqv,canonicalize,fold-shapes,fold-constants,cse,dce,"
    "bfp-pack,bfp-expand,convert-tg-to-loops,plan-memory,approximate-math,convert-scf-to-cf,convert-to-llvm",
}

WEIGHTS_FILE = "weights.npz"


def llvm_cpu_pipeline(*, threads: int = 0, cpu: str = "host", simd: str = "auto", lut: bool = False) -> str:
    """The `llvm-cpu` pipeline with the target's options: `threads` for convert-to-llvm (0 = all
    cores at run time), `cpu` (host | generic) and `simd` (kernels/lowbit_isa.py) for the kernels,
    and `lut`: rewrite low-bit matmuls to LUT mpGEMM first (the `lut` pipeline; docs/lut.md §4)."""
    spec = NAMED_PIPELINES["llvm-cpu"]
    spec = spec.replace("convert-tg-to-loops", f"convert-tg-to-loops{{cpu={cpu} simd={simd}}}")
    spec = spec.replace("convert-to-llvm", f"convert-to-llvm{{threads={threads}}}")
    if lut:  # after the graph cleanup (constant codes are then visible), before the kernels
        spec = spec.replace("convert-tg-to-loops", NAMED_PIPELINES["lut"] + ",convert-tg-to-loops", 1)
    return spec


# ---- parsing ----------------------------------------------------------------
def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _did_you_mean(name: str, candidates) -> str:
    hint = registry.close_matches(name, candidates)
    return f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""


def _make_pass(spec: ArgSpec, available) -> ModulePass:
    factory = available.get(spec.name)
    if factory is None:
        raise PassError(
            f"unknown pass '{spec.name}'{_did_you_mean(spec.name, [*available, *NAMED_PIPELINES])}; "
            f"`tensorc passes` lists them"
        )
    cls = factory()
    options = {f.name.replace("_", "-") for f in dataclasses.fields(cls) if f.init}
    for key in spec.parameters:
        if key.replace("_", "-") not in options:
            known = ", ".join(sorted(options)) or "none"
            raise PassError(
                f"pass '{spec.name}' has no option '{key}'{_did_you_mean(key, options)}; options: {known}"
            )
    try:
        return cls.from_spec(spec)
    except (ValueError, TypeError):
        raise PassError(f"pass '{spec.name}': bad option value in {spec}; options: {_describe_options(cls)}") from None


def _describe_options(cls: type[ModulePass]) -> str:
    """`max-size: int = 1024, grow-weights: bool = false`."""
    described = []
    for o in get_pass_option_infos(cls):
        type_name = o.expected_type.strip("'")
        text = f"{o.name.replace('_', '-')}: {type_name}"
        described.append(text + (f" = {o.default_value}" if o.default_value is not None else ""))
    return ", ".join(described) or "none"


def parse_pipeline_spec(spec: str) -> list[ModulePass]:
    """The passes of a pipeline spec, named pipelines expanded; PassError if anything is unknown."""
    try:
        elements = list(parse_pipeline(spec))
    except ArgSpecParseError as e:  # (a BaseException) text: title, `pass-pipeline:1:COL`, source, caret, message
        lines = str(e).strip().splitlines()
        column = lines[1].rsplit(":", 1)[-1] if len(lines) > 1 else "?"
        raise PassError(f"cannot parse pipeline '{spec}' at column {column}: {lines[-1].strip()}") from None
    available = registry.all_passes()
    passes: list[ModulePass] = []
    for element in elements:
        if element.name in NAMED_PIPELINES and element.name not in available:
            if element.parameters:
                raise PassError(f"named pipeline '{element.name}' takes no options")
            passes += parse_pipeline_spec(NAMED_PIPELINES[element.name])
        else:
            passes.append(_make_pass(element, available))
    return passes


# ---- running ----------------------------------------------------------------
def _verify(module: ModuleOp, what: str) -> None:
    try:
        module.verify()
    except DiagnosticException as e:
        raise PassError(f"{what}: {_first_line(e)}") from e


def run_passes(
    prog: Program,
    spec: str,
    *,
    print_after_all: bool = False,
    print_after: Sequence[str] = (),
    dump_dir: str | os.PathLike | None = None,
    stream: IO[str] | None = None,
) -> Program:
    """Run the pipeline `spec` on `prog` in place and return it.

    The weights are copied into a new WeightStore first (arrays are shared, not
    duplicated), so a Program cloned with `Program.clone()` keeps its own;
    weights no `tg.weight` refers to afterwards are pruned.

    print_after_all / print_after: print the IR after every pass / after the
    passes with these names to `stream` (stderr by default).
    dump_dir: write `00-input.mlir`, `01-<pass>.mlir`, ... and `weights.npz`.
    """
    stream = stream if stream is not None else sys.stderr
    passes = parse_pipeline_spec(spec)
    available = registry.all_passes()
    for name in print_after:
        if name not in available:
            raise PassError(f"--print-ir-after: unknown pass '{name}'{_did_you_mean(name, available)}")

    module = prog.module
    store = WeightStore(dict(prog.weights.items()))
    ctx = make_context()
    if dump_dir is not None:
        os.makedirs(dump_dir, exist_ok=True)
        _dump(dump_dir, "00-input", module)

    _verify(module, "invalid IR before the first pass")
    with use_weights(store):
        for i, p in enumerate(passes, 1):
            try:
                p.apply(ctx, module)
            except TensorcError:
                raise
            except DiagnosticException as e:
                raise PassError(f"pass '{p.name}' failed: {_first_line(e)}") from e
            except Exception as e:  # a bug in the pass: one line for users, the chain under --debug
                raise PassError(f"pass '{p.name}' failed: {type(e).__name__}: {_first_line(e)}") from e
            _verify(module, f"pass '{p.name}' produced invalid IR")
            if print_after_all or p.name in print_after:
                stream.write(f"// -----// IR Dump After {p.name} //----- //\n")
                stream.write(print_module(module))
                stream.flush()
            if dump_dir is not None:
                _dump(dump_dir, f"{i:02d}-{p.name}", module)

    if dump_dir is not None:
        # before pruning: every weight any of the dumps refers to is in the file
        save_weights(os.path.join(dump_dir, WEIGHTS_FILE), store)
    store.prune(used_weight_names(module))
    prog.weights = store
    return prog


# ---- dumps --------------------------------------------------------------------
def _dump(dump_dir, stem: str, module: ModuleOp) -> None:
    with open(os.path.join(dump_dir, f"{stem}.mlir"), "w") as f:
        f.write(print_module(module))


_DTYPES_KEY = "__dtypes__"


def save_weights(path: str | os.PathLike, store: WeightStore) -> None:
    """Write the weights as a plain .npz (no pickle).

    numpy has no native bfloat16 / float8 / int4: such arrays are saved as
    their raw bytes, and `__dtypes__` (rows of name, dtype) restores them.
    """
    arrays: dict[str, np.ndarray] = {}
    exotic: list[tuple[str, str]] = []
    for name, arr in store.items():
        if arr.dtype.kind == "V":  # the ml_dtypes types
            exotic.append((name, arr.dtype.name))
            arr = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
        arrays[name] = arr
    arrays[_DTYPES_KEY] = np.array(exotic, dtype=str).reshape(len(exotic), 2)
    # what np.savez does, without its keyword arguments: a weight may be called `file`
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)


def load_weights(path: str | os.PathLike) -> WeightStore:
    """The WeightStore written by `save_weights`."""
    import ml_dtypes

    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a single array, not an .npz of weights")
    with z:
        arrays = {k: z[k] for k in z.files if k != _DTYPES_KEY}
        for name, dtype in z[_DTYPES_KEY] if _DTYPES_KEY in z.files else ():
            arrays[str(name)] = arrays[str(name)].view(np.dtype(getattr(ml_dtypes, str(dtype))))
    return WeightStore(arrays)


def load_dump(path: str | os.PathLike) -> ModuleOp:
    """One dumped .mlir file parsed back."""
    with open(path) as f:
        return parse_module(f.read(), name=str(path))


__all__ = [
    "NAMED_PIPELINES",
    "llvm_cpu_pipeline",
    "parse_pipeline_spec",
    "run_passes",
    "parse_module",
    "print_module",
    "save_weights",
    "load_weights",
    "load_dump",
]
