"""tensorc — a compiler for tensor workloads on xDSL and llvmlite.

    prog = tensorc.import_onnx("m.onnx", input_shapes={"x": (1, 3, 224, 224)})
    prog = tensorc.import_torch(module, (x,))       # through torch.export (tensorc[torch])
    exe = tensorc.compile(prog, target="reference")
    outputs = exe(x=array)            # dict of outputs by name
"""

from tensorc.diagnostics import TensorcError

__version__ = "0.1.0"

_LAZY = {"Program", "Signature", "TensorSpec", "WeightStore"}


def __getattr__(name):
    # Program & co. import xDSL; loading them on first use keeps `tensorc --version` instant
    if name in _LAZY:
        from tensorc import program

        return getattr(program, name)
    if name == "eqv":  # `tensorc.eqv` (irreps, references, Builder) without an explicit import
        import importlib

        return importlib.import_module("tensorc.eqv")
    raise AttributeError(f"module 'tensorc' has no attribute '{name}'")


def import_onnx(model, input_shapes=None, constants=None, quantize_weights=None) -> "Program":
    """An ONNX model (path, bytes or ModelProto) as a tg Program; see frontends.onnx.import_onnx.
    `quantize_weights="w4g128"` (or w2g64, ternary, ...): low-bit matmul weights (docs/lut.md §1)."""
    from tensorc.frontends.onnx import import_onnx as _imp

    return _imp(model, input_shapes=input_shapes, constants=constants, quantize_weights=quantize_weights)


def import_torch(module, example_args=None, dynamic_shapes=None, **kwargs) -> "Program":
    """A torch model (nn.Module with example inputs, ExportedProgram, or saved .pt2) as a tg Program,
    through torch.export; see frontends.torch.import_torch. Needs `pip install 'tensorc[torch]'`.
    `quantize_weights="w4g128"` (or w2g64, ternary, ...): low-bit Linear weights (docs/lut.md §1)."""
    from tensorc.frontends.torch import import_torch as _imp

    return _imp(module, example_args, dynamic_shapes, **kwargs)


def compile(prog: "Program", target: str = "reference", **options):
    """A callable on numpy arrays (keyword arguments by input name) returning a dict of outputs."""
    from tensorc.targets import compile_program

    return compile_program(prog, target, **options)


def lower(prog: "Program", pipeline: str, **options) -> "Program":
    """Run a pass pipeline (a named pipeline or a pass list) on a copy of `prog`."""
    from tensorc.pipeline import run_passes

    return run_passes(prog.clone(), pipeline, **options)


__all__ = ["Program", "Signature", "TensorSpec", "WeightStore", "TensorcError", "import_onnx", "import_torch", "compile", "lower"]
