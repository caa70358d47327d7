"""The `tensorc` command.

    tensorc import model.onnx [--input-shape x=1,3,224,224] [-p PIPELINE] [-o out.mlir]
    tensorc import model.pt2 [--input-shape x=...]  (a saved torch.export ExportedProgram)
    tensorc opt file.mlir -p canonicalize            (xDSL's opt driver, see tools/opt.py)
    tensorc run model.onnx --input x=x.npy [--output-dir DIR]
    tensorc compile model.onnx -o model.tcpkg [--cpu host|generic] [--lut] [--input-shape ...]
    tensorc compile model.onnx --target ltc [--quantize-weights w2g128] -o model.ltc [--ltc-config F]
    tensorc run model.tcpkg --input x=x.npy [--threads N]   (numpy + ctypes only: no compiler import)
    tensorc inspect model.tcpkg [--json]
    tensorc passes
    tensorc demo / tensorc conformance   (tools/demo.py, tools/conformance.py)
    tensorc bench cpu [--json FILE] [--quick] [--threads 1,2]   (tools/bench_cpu.py)
    tensorc sim model.ltc --input x=x.npy [--ltc-config F] [--json report.json]   (LUT Tensor Core)
    tensorc disasm model.ltc [--data]  /  tensorc asm file.s -o file.ltc

User errors (any TensorcError, unreadable files) print one line `error: ...`
and exit 1; `--debug` shows the traceback instead. Usage errors exit 2.
Heavy modules (xDSL, onnx, the compiler) are imported inside the commands
so that `--help`, `--version` and typos answer quickly.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Sequence

# ---- argument types -----------------------------------------------------------


def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    """`name=1,3,224,224` (an empty list `name=` is a scalar)."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=D1,D2,..., got '{text}'")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"dimensions must be integers: '{text}'") from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"dimensions must be >= 0: '{text}'")
    return name, shape


def _threads_arg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of threads, got '{text}'")
    return n


def _input_arg(text: str) -> tuple[str, str]:
    """`name=path.npy`."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.npy, got '{text}'")
    return name, path


def _input_shapes(pairs) -> dict[str, tuple[int, ...]]:
    return dict(pairs or [])


# ---- loading programs ---------------------------------------------------------


def _dynamic_inputs_of(path: str) -> set[str]:
    """Graph inputs of an ONNX model whose shape is not fully static (none if unreadable:
    the importer then reports the problem)."""
    import onnx

    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - see docstring
        return set()
    inits = {i.name for i in proto.graph.initializer}
    out = set()
    for inp in proto.graph.input:
        tt = inp.type.tensor_type
        if inp.name not in inits and (
            not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim)
        ):
            out.add(inp.name)
    return out


def _load_program(path: str, input_shapes: dict, weights: str | None = None, arrays: dict | None = None,
                  quantize: str | None = None):
    """A Program from an .onnx model, a saved torch.export program (.pt2), or from tg IR
    (.mlir) plus an optional weights .npz; with `quantize` (--quantize-weights), its matmul
    weights in low-bit form.

    For `run`, dynamic ONNX / .pt2 inputs not bound by --input-shape take the shape of
    the array given for them.
    """
    if quantize is not None:
        from tensorc.passes.quantize_weights import quantize_program_weights, resolve_spec

        spec = resolve_spec(quantize, "--quantize-weights")  # a malformed spec fails before the import
        return quantize_program_weights(_load_program(path, input_shapes, weights, arrays), spec)
    from tensorc.diagnostics import InputError

    if path.endswith(".mlir"):
        from tensorc.ir_text import parse_module
        from tensorc.pipeline import load_weights
        from tensorc.program import Program, WeightStore, signature_from_main
        from xdsl.utils.exceptions import ParseError

        if input_shapes:
            raise InputError("--input-shape applies to ONNX models; tg IR has static shapes")
        with open(path) as f:
            text = f.read()
        try:
            module = parse_module(text, name=path)
        except ParseError as e:  # text: `file:line:col`, source line, caret, message
            lines = str(e).strip().splitlines()
            raise InputError(f"{lines[0]}: {lines[-1].strip()}") from None
        try:
            store = load_weights(weights) if weights else WeightStore()
        except (ValueError, KeyError):  # not an .npz from `--save-weights` / `--dump-ir`
            raise InputError(f"--weights {weights}: not an .npz of weights") from None
        prog = Program(module, store)
        prog.signature = signature_from_main(prog.main)
        return prog

    if path.endswith(".pt2"):  # a saved torch.export program (docs/torch.md)
        from tensorc.frontends.torch import import_torch, input_names, load_exported

        if weights:
            raise InputError("--weights applies to .mlir programs; a .pt2 program carries its own")
        ep = load_exported(path)
        shapes = dict(input_shapes)
        for name in set(input_names(ep)) & set(arrays or {}):  # dynamic sizes from the given arrays
            shapes.setdefault(name, tuple(arrays[name].shape))
        return import_torch(ep, input_shapes=shapes or None, source=path)

    from tensorc.frontends.onnx import import_onnx

    if weights:
        raise InputError("--weights applies to .mlir programs; an ONNX model carries its own")
    shapes = dict(input_shapes)
    if arrays:
        for name in _dynamic_inputs_of(path) & set(arrays):
            shapes.setdefault(name, tuple(arrays[name].shape))
    # the importer loads the file itself, so its messages name the path
    return import_onnx(path, input_shapes=shapes or None)


def _load_array(name: str, path: str):
    import numpy as np

    from tensorc.diagnostics import InputError

    try:
        arr = np.load(path, allow_pickle=False)
    except OSError as e:
        raise InputError(f"input '{name}': cannot read '{path}': {e.strerror or e}") from None
    except ValueError:  # numpy blames pickling for any file that is not .npy
        raise InputError(f"input '{name}': '{path}' is not a .npy array file") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise InputError(f"input '{name}': '{path}' is an .npz archive; give one .npy file per input")
    return arr


def _run_pipeline(prog, args):
    if not (args.passes or args.print_ir_after_all or args.print_ir_after or args.dump_ir):
        return prog
    from tensorc.pipeline import run_passes

    return run_passes(
        prog,
        args.passes or "",
        print_after_all=args.print_ir_after_all,
        print_after=args.print_ir_after or (),
        dump_dir=args.dump_ir,
    )


# ---- commands -----------------------------------------------------------------


def cmd_import(args) -> int:
    from tensorc.ir_text import print_module

    prog = _load_program(args.model, _input_shapes(args.input_shape), quantize=args.quantize_weights)
    prog = _run_pipeline(prog, args)
    text = print_module(prog.module, generic=args.generic)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.save_weights:
        from tensorc.pipeline import save_weights

        save_weights(args.save_weights, prog.weights)
    return 0


def _summary(arr) -> str:
    import numpy as np

    shape = "x".join(map(str, arr.shape)) or "scalar"
    head = f"{shape} {arr.dtype}"
    if arr.size == 0:
        return head + "  (empty)"
    if arr.size <= 8:
        return head + f"  {np.array2string(arr.reshape(-1), precision=5, separator=', ')}"
    try:
        a = arr.astype(np.float64)
    except (TypeError, ValueError):
        return head
    return head + f"  min {np.nanmin(a):.6g}  max {np.nanmax(a):.6g}  mean {np.nanmean(a):.6g}"


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


def _is_package(path: str) -> bool:
    return path.endswith(".tcpkg") or os.path.isfile(os.path.join(path, "manifest.json"))


def _print_outputs(outputs: dict, output_dir: str | None) -> None:
    if output_dir:
        import numpy as np

        os.makedirs(output_dir, exist_ok=True)
        for name, arr in outputs.items():
            path = os.path.join(output_dir, _UNSAFE_FILENAME.sub("_", name) + ".npy")
            np.save(path, arr, allow_pickle=False)
            print(f"{name}: wrote {path}")
    else:
        for name, arr in outputs.items():
            print(f"{name}: {_summary(arr)}")


def _run_package(args) -> int:
    """`tensorc run model.tcpkg`: the runtime alone (numpy + ctypes), no compiler import."""
    from tensorc.diagnostics import InputError
    from tensorc.runtime import load

    for flag, given in (("--input-shape", args.input_shape), ("--weights", args.weights),
                        ("--quantize-weights", args.quantize_weights),
                        ("-p/--print-ir-*/--dump-ir", args.passes or args.print_ir_after_all
                         or args.print_ir_after or args.dump_ir)):
        if given:
            raise InputError(f"{flag} does not apply to a compiled package ({args.model})")
    arrays = {name: _load_array(name, path) for name, path in args.input or []}
    model = load(args.model, threads=args.threads)
    names = [s.name for s in model.inputs]
    for name in arrays:
        if name not in names:
            raise InputError(
                f"--input '{name}' is not an input of the model (inputs: {', '.join(names) or 'none'})"
            )
    _print_outputs(model(**arrays), args.output_dir)
    return 0


def cmd_run(args) -> int:
    if _is_package(args.model):
        return _run_package(args)
    import tensorc
    from tensorc.diagnostics import InputError

    arrays = {name: _load_array(name, path) for name, path in args.input or []}
    prog = _load_program(args.model, _input_shapes(args.input_shape), args.weights, arrays,
                         quantize=args.quantize_weights)
    prog = _run_pipeline(prog, args)
    names = [s.name for s in prog.signature.inputs]
    for name in arrays:
        if name not in names:
            raise InputError(
                f"--input '{name}' is not an input of the model (inputs: {', '.join(names) or 'none'})"
            )
    options = {}
    if args.lut:  # low-bit matmuls through LUT mpGEMM (docs/lut.md §4); the reference runs the lut ops
        if args.target == "llvm-cpu":
            options["lut"] = True
        else:
            prog = tensorc.lower(prog, "cleanup,lut")
    if args.threads is not None:
        if args.target != "llvm-cpu":
            raise InputError(f"--threads applies to --target llvm-cpu and .tcpkg packages, not --target {args.target}")
        options["threads"] = args.threads
    exe = tensorc.compile(prog, target=args.target, **options)
    _print_outputs(exe(**arrays), args.output_dir)
    return 0


def cmd_compile(args) -> int:
    from tensorc.diagnostics import BackendError, InputError

    if args.threads is not None and args.target != "llvm-cpu":
        raise InputError(f"--threads does not apply to --target {args.target}")
    if args.target == "ltc":
        return _compile_ltc(args)
    if args.target != "llvm-cpu":
        raise BackendError(f"compile --target {args.target}: not available (available: llvm-cpu, ltc)")
    from tensorc.package import compile_package

    prog = _load_program(args.model, _input_shapes(args.input_shape), args.weights, quantize=args.quantize_weights)
    out = args.output or os.path.splitext(os.path.basename(args.model))[0] + ".tcpkg"
    info = compile_package(prog, out, cpu=args.cpu, dump_dir=args.dump_ir, print_after_all=args.print_ir_after_all,
                           lut=args.lut, threads=args.threads)
    parts = ", ".join(f"{name} {size}" for name, size in sorted(info.sizes.items()))
    print(f"wrote {out}: {info.size} bytes ({parts}) in {info.times['total_s']:.2f} s")
    return 0


def _compile_ltc(args) -> int:
    """`tensorc compile model.onnx --target ltc -o model.ltc`: the LUT Tensor Core stream (docs/ltc.md)."""
    from tensorc.backends.ltc import compile_ltc
    from tensorc.diagnostics import InputError
    from tensorc.runtime.ltc import load_config

    for flag, value in (("--cpu", args.cpu != "host"), ("--lut", args.lut)):
        if value:
            raise InputError(f"{flag} does not apply to --target ltc")
    cfg = _ltc(lambda: load_config(args.ltc_config))
    prog = _load_program(args.model, _input_shapes(args.input_shape), args.weights, quantize=args.quantize_weights)
    out = args.output or os.path.splitext(os.path.basename(args.model))[0] + ".ltc"
    c = compile_ltc(prog, config=cfg, workspace=args.ltc_workspace, time_limit=args.plan_time_limit,
                    plan=args.ltc_plan, dump_dir=args.dump_ir)
    _ltc(lambda: c.program.save(out))
    size = os.path.getsize(out)
    plan = c.program.meta["plan"]
    print(f"wrote {out}: {size} bytes, {len(c.program.instrs)} instructions; plan {plan['method']} "
          f"({plan['status']}) in {plan['capacity']} B + {plan['workspace']} B workspace, "
          f"predicted DRAM traffic {c.traffic['total']} B")
    if c.host is not None:
        print(f"host prologue: {', '.join(c.program.meta['host_prologue'])}; core inputs: "
              f"{', '.join(s.name for s in c.core.signature.inputs)}")
    return 0


def cmd_inspect(args) -> int:
    from tensorc.runtime import package

    if args.json:
        import json

        print(json.dumps(package.read_manifest(args.package), indent=2, sort_keys=True))
    else:
        sys.stdout.write(package.describe(args.package))
    return 0


# ---- LUT Tensor Core programs (docs/ltc.md): the runtime simulator, assembler, disassembler ----


def _ltc(fn):
    """Run fn, turning the simulator's errors (which cannot derive from TensorcError) into one line."""
    from tensorc.diagnostics import BackendError
    from tensorc.runtime.ltc.errors import LTCError

    try:
        return fn()
    except LTCError as e:
        raise BackendError(str(e)) from e


def cmd_sim(args) -> int:
    import json

    from tensorc.runtime.ltc import format_report, load_config, read_program, simulate

    def run():
        cfg = load_config(args.ltc_config)
        prog = read_program(args.program)
        arrays = {name: _load_array(name, path) for name, path in args.input or []}
        res = simulate(prog, arrays, cfg, functional=not args.timing_only)
        if not args.timing_only:
            _print_outputs(res.outputs, args.output_dir)
        print(format_report(res.report))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"program": args.program, "config": cfg.to_dict(), **res.report}, f, indent=2)
            print(f"wrote {args.json}")
        return 0

    return _ltc(run)


def cmd_disasm(args) -> int:
    from tensorc.ltc.asm import disassemble
    from tensorc.runtime.ltc import read_program

    text = _ltc(lambda: disassemble(read_program(args.program), data=args.data))
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_asm(args) -> int:
    from tensorc.ltc.asm import assemble

    with open(args.source) as f:
        text = f.read()
    prog = _ltc(lambda: assemble(text, args.source))
    out = args.output or os.path.splitext(args.source)[0] + ".ltc"
    data = prog.to_bytes()
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {out}: {len(prog.instrs)} instructions, {len(data)} bytes")
    return 0


def cmd_passes(args) -> int:
    from tensorc.passes import registry
    from tensorc.pipeline import NAMED_PIPELINES

    width = max(map(len, [*registry.PASSES, *NAMED_PIPELINES]))
    print("passes:")
    for name in registry.available():
        print(f"  {name:<{width}}  {registry.summary(name)}")
    print("pipelines:")
    for name, spec in sorted(NAMED_PIPELINES.items()):
        print(f"  {name:<{width}}  {spec}")
    if args.all:
        from xdsl.universe import Universe

        print("xDSL passes (tensorc opt and -p accept these too):")
        for name in sorted(set(Universe.get_multiverse().all_passes) - set(registry.PASSES)):
            print(f"  {name}")
    return 0


def cmd_demo(args) -> int:
    from tensorc.tools import demo

    return demo.run(args.model, out_dir=args.out_dir, target=args.target)


# Commands with their own argument parser: main() hands them everything after their name.
def cmd_opt(argv: Sequence[str], debug: bool) -> int:
    from tensorc.tools.opt import main as opt_main

    return opt_main(list(argv), debug=debug)


def cmd_conformance(argv: Sequence[str], debug: bool) -> int:
    from tensorc.tools.conformance import main as conformance_main

    return conformance_main(list(argv))


# `tensorc bench SUITE ...`: each suite is a module with main(argv) -> int
BENCH_SUITES = {
    "cpu": "tensorc.tools.bench_cpu",      # tensorc vs onnxruntime vs numpy on the CPU workloads
    "cosma": "tensorc.tools.bench_cosma",
    "bfp": "tensorc.tools.bench_bfp",      # BFP/MX K caches with and without channel rearrangement
    "gaunt": "tensorc.tools.bench_gaunt",  # compiled CG vs compiled Gaunt vs e3nn, L = 1..8
    "lut": "tensorc.tools.bench_lut",      # low-bit GEMV engines (LUT, fused, ORT MatMulNBits, numpy, f32); MiniLM
    "ltc": "tensorc.tools.bench_ltc",      # LUT Tensor Core simulator: reproductions a-e of issue 9
}


def cmd_bench(argv: Sequence[str], debug: bool) -> int:
    import importlib

    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCH_SUITES:
        known = ", ".join(sorted(BENCH_SUITES))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown benchmark suite '{argv[0]}' (available: {known})", file=sys.stderr)
            return 2
        print(f"usage: tensorc bench SUITE [options]   (suites: {known}; tensorc bench SUITE --help)")
        return 0 if argv else 2
    return importlib.import_module(BENCH_SUITES[argv[0]]).main(argv[1:])


def cmd_plan(argv: Sequence[str], debug: bool) -> int:
    from tensorc.tools.plan import main as plan_main

    return plan_main(list(argv) + (["--debug"] if debug else []))


DELEGATED = {"opt": cmd_opt, "conformance": cmd_conformance, "bench": cmd_bench, "plan": cmd_plan}


# ---- parser -------------------------------------------------------------------


def _add_lut_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lut", action="store_true",
                   help="low-bit weight matmuls through LUT mpGEMM: int8 activation tables, 2-4x faster "
                        "GEMV, NMSE ~5e-5 (docs/lut.md §4)")


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--passes", metavar="PIPELINE", help="pass pipeline, e.g. 'cleanup' or 'canonicalize,cse'")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    p.add_argument("--print-ir-after", action="append", metavar="PASS", help="print the IR after this pass (repeatable)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR before and after each pass to DIR/NN-pass.mlir")


def _add_shape_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input-shape", action="append", type=_shape_arg, metavar="NAME=D1,D2,...",
        help="bind the shape of a model input (repeatable)",
    )


def _add_quantize_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quantize-weights", metavar="SPEC",
        help="low-bit MatMul/Gemm/Linear weights: w<bits>[g<group>][a|s] or ternary[g<group>], e.g. w4g128 (docs/lut.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    from tensorc import __version__

    parser = argparse.ArgumentParser(prog="tensorc", description="A compiler for tensor workloads.")
    parser.add_argument("--version", action="version", version=f"tensorc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", help="import a model and print its tg IR")
    p.add_argument("model", help="an .onnx model, a torch.export .pt2 (or .mlir tg IR)")
    _add_shape_arg(p)
    _add_pipeline_args(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the IR here instead of stdout")
    p.add_argument("--generic", action="store_true", help="print ops in MLIR's generic form")
    p.add_argument("--save-weights", metavar="FILE.npz", help="also write the weights (for `run file.mlir --weights`)")
    _add_quantize_arg(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("compile", help="compile a model ahead of time into a .tcpkg package")
    p.add_argument("model", help="an .onnx model, a torch.export .pt2 (or .mlir tg IR with --weights)")
    p.add_argument("-o", "--output", metavar="FILE.tcpkg", help="the package to write (default: MODEL.tcpkg here)")
    p.add_argument("--target", default="llvm-cpu", help="target (default: llvm-cpu)")
    p.add_argument("--cpu", default="host", choices=["host", "generic"],
                   help="host: all features of this CPU (recorded, checked at load); generic: portable x86-64")
    p.add_argument("--threads", type=_threads_arg, metavar="N",
                   help="default thread count of the package (default: one per online CPU where it runs; "
                        "1: no thread pool); `run --threads` overrides it")
    _add_lut_arg(p)
    _add_shape_arg(p)
    p.add_argument("--weights", metavar="FILE.npz", help="weights for an .mlir program")
    _add_quantize_arg(p)
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR before and after each pass to DIR/NN-pass.mlir")
    p.add_argument("--ltc-config", metavar="FILE", help="--target ltc: machine parameters (.json or .toml; docs/ltc.md)")
    p.add_argument("--ltc-workspace", metavar="BYTES", type=int,
                   help="--target ltc: scratchpad bytes kept for weight tiles and temporaries (default: a quarter)")
    p.add_argument("--ltc-plan", default="cosma", metavar="PLAN",
                   help="--target ltc: cosma (default) or a baseline, e.g. tflite-default-greedy")
    p.add_argument("--plan-time-limit", type=float, default=10.0, metavar="S",
                   help="--target ltc: seconds for the memory plan (default 10)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("inspect", help="show the manifest of a .tcpkg package and whether it runs here")
    p.add_argument("package", help="a .tcpkg package")
    p.add_argument("--json", action="store_true", help="print manifest.json as it is")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", help="run a model or a compiled package on .npy inputs")
    p.add_argument("model", help="an .onnx model, a torch.export .pt2, a .tcpkg package (or .mlir tg IR with --weights)")
    p.add_argument("--input", action="append", type=_input_arg, metavar="NAME=FILE.npy", help="an input (repeatable)")
    _add_shape_arg(p)
    _add_pipeline_args(p)
    p.add_argument("--target", default="reference", help="target to run on (default: reference)")
    p.add_argument("--weights", metavar="FILE.npz", help="weights for an .mlir program")
    p.add_argument("--output-dir", metavar="DIR", help="save each output as DIR/NAME.npy instead of printing it")
    p.add_argument("--threads", type=_threads_arg, metavar="N",
                   help="threads of a package or of --target llvm-cpu (default: as compiled, one per online CPU)")
    _add_quantize_arg(p)
    _add_lut_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("passes", help="list passes and named pipelines")
    p.add_argument("--all", action="store_true", help="also list xDSL's passes")
    p.set_defaults(func=cmd_passes)

    p = sub.add_parser("demo", help="import, clean up and run the bundled example; compare with onnxruntime")
    p.add_argument("model", nargs="?", help="an .onnx model (default: the bundled transformer block)")
    p.add_argument("--out-dir", default="out/demo-ir", help="where the IR dumps go (default: out/demo-ir)")
    p.add_argument("--target", default="reference")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="simulate a LUT Tensor Core program (.ltc): outputs, cycles, traffic, energy")
    p.add_argument("program", help="a .ltc program")
    p.add_argument("--input", action="append", type=_input_arg, metavar="NAME=FILE.npy", help="an input (repeatable)")
    p.add_argument("--ltc-config", metavar="FILE", help="machine parameters (.json or .toml; docs/ltc.md)")
    p.add_argument("--json", metavar="FILE", help="also write the report (and the config) as JSON")
    p.add_argument("--output-dir", metavar="DIR", help="save each output as DIR/NAME.npy instead of printing it")
    p.add_argument("--timing-only", action="store_true", help="skip the numerics: cycles, traffic and energy only")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("disasm", help="print a .ltc program as assembly text")
    p.add_argument("program", help="a .ltc program")
    p.add_argument("--data", action="store_true", help="include the DRAM segments (base64), so `asm` rebuilds the file")
    p.add_argument("-o", "--output", metavar="FILE.s", help="write here instead of stdout")
    p.set_defaults(func=cmd_disasm)

    p = sub.add_parser("asm", help="assemble LUT Tensor Core assembly text into a .ltc program")
    p.add_argument("source", help="assembly text (docs/ltc.md §3)")
    p.add_argument("-o", "--output", metavar="FILE.ltc", help="the program to write (default: SOURCE.ltc)")
    p.set_defaults(func=cmd_asm)

    # listed for --help only: main() hands their arguments to their own parsers untouched
    sub.add_parser("opt", help="the mlir-opt of tensorc (tensorc opt --help)", add_help=False)
    sub.add_parser("conformance", help="run the ONNX backend test suite (tensorc conformance --help)", add_help=False)
    sub.add_parser("plan", help="memory plan (COSMA): order, scratchpad offsets, spills (tensorc plan --help)", add_help=False)
    sub.add_parser("bench", help="benchmarks: tensorc bench cpu [--json FILE] [--quick] [--threads 1,2]", add_help=False)
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `tensorc [--debug] opt ...`: everything after `opt` belongs to xDSL's driver,
    # whose options argparse here must not see (likewise `conformance`)
    i = 0
    while i < len(argv) and argv[i] == "--debug":
        i += 1
    if i < len(argv) and argv[i] in DELEGATED:
        command, debug = DELEGATED[argv[i]], i > 0
        return _guarded(lambda: command(argv[i + 1 :], debug), debug)

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _guarded(lambda: args.func(args), args.debug)


def _guarded(fn, debug: bool) -> int:
    from tensorc.diagnostics import TensorcError

    try:
        return fn()
    except (TensorcError, OSError) as e:
        if debug:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # the runtime's errors (it cannot import tensorc.diagnostics)
        from tensorc.runtime.package import USER_ERRORS

        if debug or not isinstance(e, USER_ERRORS):
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
