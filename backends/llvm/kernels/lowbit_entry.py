"""Build and compile one quantized GEMV/GEMM with a chosen CPU engine (for benchmarks and tools).

    from tensorc.backends.llvm.kernels.lowbit_entry import compile_lowbit
    exe = compile_lowbit(qw, batch=1, engine="lut", threads=1)     # qw: tensorc.quant.lowbit.QuantizedWeight
    y = exe(x=x)["y"]                                              # x f32 [batch, K] → y f32 [batch, N]

Engines (docs/lut.md §4):
- `lut`: `tg.matmul_nbits` → `lut.precompute` + `lut.mpgemm` (`LUT_PIPELINE`, what
  `tensorc.compile(..., lut=True)` runs: int8 `half` tables, activation groups of 64), the
  shuffle kernel (`kernels/lut.py`); the time includes the table precompute.
- `dequant-dot`: `tg.matmul_nbits` as it is: the fused dequantize + dot kernel (`kernels/lowbit.py`).
- `precompute`: the LUT program cut after `lut.precompute` (outputs: the tables and their scales),
  to time the precompute alone.

Imports stay inside the functions: this module is imported with every kernel family.
"""

from __future__ import annotations

ENGINES = ("lut", "dequant-dot", "precompute")
#: what `tensorc.compile(..., lut=True)` runs: the named pipeline `lut` (lut-mpgemm's defaults:
#: signed i8 tables, act_group 64; then lut-symmetrize). act_group 128 measured no different.
LUT_ACT_GROUP = 64


def lut_pipeline(act_group: int = LUT_ACT_GROUP, form: str = "signed", table_type: str = "i8") -> str:
    """The passes that turn `tg.matmul_nbits` into lut ops (then `lut-symmetrize`: half tables)."""
    return f"lut-mpgemm{{form={form} table-type={table_type} act-group={act_group}}},lut-symmetrize"


LUT_PIPELINE = lut_pipeline()


def gemv_program(qw, batch: int = 1, name: str = "fc"):
    """y[batch, N] = x[batch, K] · W[N, K]ᵀ as one `tg.matmul_nbits` on constant weights
    `<name>.codes/scales/zeros` (input `x`, output `y`)."""
    import numpy as np
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    from tensorc.dialects import dtypes
    from tensorc.dialects.tg import WeightOp
    from tensorc.dialects.tg.lowbit import MatMulNBitsOp
    from tensorc.program import Program, WeightStore, signature_from_main

    store = WeightStore()
    block = Block(arg_types=[dtypes.tensor_type((batch, qw.k), np.float32)])
    vals = []
    for what, arr in (("codes", qw.packed()), ("scales", qw.scales), ("zeros", qw.zeros)):
        op = WeightOp(store.add(f"{name}.{what}", arr), dtypes.tensor_type(arr.shape, arr.dtype))
        block.add_op(op)
        vals.append(op.result)
    mm = MatMulNBitsOp.make([block.args[0], *vals], {"K": qw.k, "N": qw.n, "bits": qw.bits,
                                                      "block_size": qw.group, "ternary": int(qw.ternary)}, src=name)
    block.add_ops([mm, func.ReturnOp(mm.outputs[0])])
    main = func.FuncOp("main", ([block.args[0].type], [mm.outputs[0].type]), Region(block))
    return Program(ModuleOp([main]), store, signature_from_main(main, ["x"], ["y"]))


def precompute_only(prog):
    """A lowered LUT program cut after its (first) `lut.precompute`: outputs `tables`, `tscales`."""
    import tensorc
    from xdsl.dialects import func

    from tensorc.dialects.lut import PrecomputeOp
    from tensorc.program import signature_from_main

    prog = prog.clone()
    main = next(op for op in prog.module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    block = main.body.block
    pc = next(op for op in block.ops if isinstance(op, PrecomputeOp))
    old = block.last_op
    block.add_op(func.ReturnOp(pc.tables, pc.tscales))
    old.detach()
    old.erase()
    main.function_type = func.FunctionType.from_lists([a.type for a in block.args], [pc.tables.type, pc.tscales.type])
    prog.signature = signature_from_main(main, [s.name for s in prog.signature.inputs], ["tables", "tscales"])
    return tensorc.lower(prog, "dce")


def compile_lowbit(qw, batch: int = 1, engine: str = "lut", threads: int | None = 1, cpu: str = "host",
                   act_group: int = LUT_ACT_GROUP, pipeline: str | None = None):
    """The compiled quantized GEMV/GEMM of `qw` (tensorc.quant.lowbit.QuantizedWeight) for `batch`
    rows with `engine` (see the module doc); `threads` as in tensorc.compile (None: all cores);
    `pipeline` overrides the lut passes. Raises TensorcError (one line) when the engine cannot
    take this weight (e.g. `lut` with a group that is not a multiple of 4)."""
    import tensorc
    from tensorc.diagnostics import BackendError

    if engine not in ENGINES:
        raise BackendError(f"unknown low-bit engine '{engine}' (use {', '.join(ENGINES)})")
    prog = gemv_program(qw, batch)
    if engine != "dequant-dot":
        prog = tensorc.lower(prog, "cleanup," + (pipeline or lut_pipeline(act_group)))
        if not any(op.name == "lut.mpgemm" for op in prog.module.walk()):
            raise BackendError(f"lut-mpgemm left this {qw.bits}-bit matmul (group {qw.group}) as tg.matmul_nbits")
        if engine == "precompute":
            prog = precompute_only(prog)
    return tensorc.compile(prog, target="llvm-cpu", threads=threads, cpu=cpu)
