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


# ---- a quick side-by-side (kernel tuning; the official benchmark is `tensorc bench lut`) -------------
def _ort_gemv(qw, batch: int):
    """onnxruntime com.microsoft.MatMulNBits (accuracy_level 4, packed uint8 zero points), 1 thread."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from tensorc.quant.lowbit import pack_codes

    nb = qw.k // qw.group
    inits = [numpy_helper.from_array(qw.packed().reshape(qw.n, nb, qw.group * qw.bits // 8), "B"),
             numpy_helper.from_array(qw.scales.reshape(-1), "S"),
             numpy_helper.from_array(pack_codes(qw.zeros.astype(np.uint8), qw.bits).reshape(-1), "Z")]
    node = helper.make_node("MatMulNBits", ["A", "B", "S", "Z"], ["Y"], domain="com.microsoft", K=qw.k, N=qw.n,
                            bits=qw.bits, block_size=qw.group, accuracy_level=4)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [batch, qw.k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, qw.n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"A": x})[0]


def _f32_tensorc(w, batch: int):
    import tensorc
    from onnx import TensorProto, helper, numpy_helper

    n, k = w.shape
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, n])],
                              [numpy_helper.from_array(w.T.copy(), "W")])
    exe = tensorc.compile(tensorc.import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])),
                          target="llvm-cpu", threads=1)
    return lambda x: exe(x=x)["y"]


def quick_compare(n: int = 11008, k: int = 4096, bits=(2, 4), group: int = 128, batch: int = 1, reps: int = 100,
                  llc_bytes: int = 32 << 20, seed: int = 0) -> list[dict]:
    """1-thread medians (µs) of the LUT kernel, the fused dequant+dot kernel and onnxruntime's
    MatMulNBits, each rotating through enough copies of its weights (≥ 4× `llc_bytes`) to read
    them from DRAM, and of dense f32 (numpy sgemv and tensorc's compiled matmul; 180 MB at
    11008×4096: DRAM anyway), on random codes, scales and integer zero points."""
    import time

    import numpy as np

    from tensorc.quant.lowbit import QuantizedWeight

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, k)).astype(np.float32)
    dense = None
    out = []
    for b in bits:
        qw = QuantizedWeight(rng.integers(0, 1 << b, size=(n, k), dtype=np.uint8),
                             rng.uniform(0.001, 0.01, size=(n, k // group)).astype(np.float32),
                             rng.integers(0, 1 << b, size=(n, k // group)).astype(np.float32), b, group)
        copies = max(2, -(-4 * llc_bytes // (n * k * b // 8)))
        engines = {
            "lut": [(lambda e: lambda x: e(x=x)["y"])(compile_lowbit(qw, batch)) for _ in range(copies)],
            "dequant-dot": [(lambda e: lambda x: e(x=x)["y"])(compile_lowbit(qw, batch, "dequant-dot"))
                            for _ in range(copies)],
            "onnxruntime": [_ort_gemv(qw, batch) for _ in range(copies)],
        }
        if dense is None:
            w = qw.dequantize()
            engines["f32-numpy"] = [lambda x, w=w: x @ w.T]
            engines["f32-tensorc"] = [_f32_tensorc(w, batch)]
        exact = x.astype(np.float64) @ qw.dequantize().T.astype(np.float64)
        row = {"n": n, "k": k, "bits": b, "group": group, "batch": batch, "copies": copies}
        for name, fns in engines.items():
            y = fns[0](x)
            row[f"{name}_nmse"] = float(((y - exact) ** 2).sum() / (exact ** 2).sum())
            for f in fns:
                f(x)
            times = []
            for r in range(reps):
                t = time.perf_counter()
                fns[r % len(fns)](x)
                times.append(time.perf_counter() - t)
            row[name] = float(np.median(times) * 1e6)
        dense = dense or {key: row[key] for key in ("f32-numpy", "f32-tensorc")}
        row.update(dense)
        out.append(row)
    return out


def main(argv=None) -> None:
    """`python -c 'from tensorc.backends.llvm.kernels.lowbit_entry import main; main()' [BITS]`
    (OPENBLAS_NUM_THREADS=1 for a 1-thread sgemv): prints quick_compare's rows."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    for r in quick_compare(bits=tuple(int(b) for b in (argv[0] if argv else "2,4").split(","))):
        print(f"{r['n']}x{r['k']} {r['bits']}-bit g{r['group']} batch {r['batch']}, 1 thread, median us: "
              f"lut {r['lut']:.0f}, dequant-dot {r['dequant-dot']:.0f}, onnxruntime {r['onnxruntime']:.0f}, "
              f"f32 numpy {r['f32-numpy']:.0f}, f32 tensorc {r['f32-tensorc']:.0f} | lut/ort "
              f"{r['lut'] / r['onnxruntime']:.2f}, f32-numpy/lut {r['f32-numpy'] / r['lut']:.1f}, "
              f"f32-tensorc/lut {r['f32-tensorc'] / r['lut']:.1f}, dequant-dot/lut {r['dequant-dot'] / r['lut']:.2f} "
              f"| nmse lut {r['lut_nmse']:.1e} ort {r['onnxruntime_nmse']:.1e}", flush=True)
