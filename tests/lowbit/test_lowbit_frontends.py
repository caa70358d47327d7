"""The ways in to tg.matmul_nbits (docs/lut.md §1): ONNX com.microsoft.MatMulNBits,
DequantizeLinear(int4/uint4/int2/uint2) feeding MatMul/Gemm, and --quantize-weights on ONNX and
torch models; their errors, in the API and the CLI. Oracles: onnxruntime, onnx.reference, numpy."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import tensorc
from tensorc.diagnostics import TensorcError
from tensorc.quant.lowbit import dequantize, quantize_rtn, unpack_codes
from tensorc.tools.cli import main


def nmse(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.mean((y - ref) ** 2) / np.mean(ref ** 2))


def ort_run(model: onnx.ModelProto, fuse: bool = True, **feeds) -> np.ndarray:
    """onnxruntime's output. fuse=False stops at basic graph optimizations: the extended ones fuse
    DequantizeLinear(int4) + MatMul into a MatMulNBits that quantizes A to int8 (NMSE ~5e-5 off the
    exact DequantizeLinear semantics, which is what tensorc and onnx.reference compute)."""
    so = ort.SessionOptions()
    if not fuse:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def ops_of(prog) -> list[str]:
    return [op.name for op in prog.main.body.walk()]


def lowbit_weight(prog):
    """(codes, scales, zeros, K, bits, group) of the program's only tg.matmul_nbits, from its WeightStore."""
    (op,) = [o for o in prog.main.body.walk() if o.name == "tg.matmul_nbits"]
    arrays = [prog.weights[o.owner.weight_name] for o in op.operands[1:]]
    return (*arrays, op.attr("K"), op.attr("bits"), op.attr("block_size"))


# ---- com.microsoft.MatMulNBits --------------------------------------------------------------------

def nbits_model(k=64, n=24, bits=4, block=32, a_shape=(3, 64), zp=None, scales=None, bias=None, g_idx=None,
                b=None, a_type=TensorProto.FLOAT, seed=0, **attrs) -> onnx.ModelProto:
    """One MatMulNBits node 'mnb' with random packed B (ORT's layout) and positive scales."""
    rng = np.random.default_rng(seed)
    k_blocks = -(-k // block)
    if b is None:
        b = rng.integers(0, 256, size=(n, k_blocks, block * bits // 8), dtype=np.uint8)
    if scales is None:
        scales = rng.uniform(0.01, 0.1, size=(n, k_blocks)).astype(np.float32)
    inits, names = [numpy_helper.from_array(b, "B"), numpy_helper.from_array(scales, "scales")], ["A", "B", "scales"]
    for name, arr in (("zero_points", zp), ("g_idx", g_idx), ("bias", bias)):
        if arr is not None:
            inits.append(numpy_helper.from_array(arr, name))
        names.append(name if arr is not None else "")
    while not names[-1]:
        names.pop()
    node = helper.make_node("MatMulNBits", names, ["Y"], name="mnb", domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=block, **attrs)
    graph = helper.make_graph([node], "nbits", [helper.make_tensor_value_info("A", a_type, list(a_shape))],
                              [helper.make_tensor_value_info("Y", a_type, list(a_shape[:-1]) + [n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("zp_kind", [None, "packed", "float"])
@pytest.mark.parametrize("a_shape", [(1, 64), (2, 3, 64)])
def test_matmul_nbits_matches_onnxruntime(bits, zp_kind, a_shape):
    n, k, block = 24, 64, 32
    rng = np.random.default_rng(bits)
    zp = None
    if zp_kind == "packed":  # ORT's packing: per row, k_blocks codes, low bits first
        zp = rng.integers(0, 256, size=(n, -(-(k // block) * bits // 8)), dtype=np.uint8)
    elif zp_kind == "float":
        zp = rng.uniform(0, (1 << bits) - 1, size=(n, k // block)).astype(np.float32)
    model = nbits_model(k, n, bits, block, a_shape, zp=zp, seed=bits)
    a = rng.standard_normal(a_shape).astype(np.float32)
    prog = tensorc.import_onnx(model)
    assert "tg.matmul_nbits" in ops_of(prog)
    y = tensorc.compile(prog)(A=a)["Y"]
    ref = ort_run(model, A=a)
    assert y.shape == ref.shape
    assert nmse(y, ref) <= 1e-9  # both dequantize to f32 and sum in f32: only the order differs

    # ORT's packed B is our packed codes byte for byte; absent zero points are 2^(bits-1)
    codes, scales, zeros, kk, bb, g = lowbit_weight(prog)
    b = numpy_helper.to_array(model.graph.initializer[0])
    np.testing.assert_array_equal(codes, b.reshape(n, -1))
    if zp_kind is None:
        assert np.all(zeros == 1 << (bits - 1))


def test_matmul_nbits_bias_flat_scales_and_trivial_g_idx():
    rng = np.random.default_rng(5)
    n, k, block = 16, 64, 16
    flat = rng.uniform(0.01, 0.1, size=n * (k // block)).astype(np.float32)  # older exporters: [N·k_blocks]
    model = nbits_model(k, n, 4, block, (2, k), scales=flat, bias=rng.standard_normal(n).astype(np.float32),
                        g_idx=(np.arange(k) // block).astype(np.int32), accuracy_level=4)
    a = rng.standard_normal((2, k)).astype(np.float32)
    y = tensorc.compile(tensorc.import_onnx(model))(A=a)["Y"]
    # accuracy_level=4 lets ORT quantize A to int8; tensorc stays f32 (it ignores the attribute), so
    # compare with ORT at level 0 exactly and with level 4 only within the bar
    exact = nbits_model(k, n, 4, block, (2, k), scales=flat, bias=numpy_helper.to_array(model.graph.initializer[-1]),
                        g_idx=(np.arange(k) // block).astype(np.int32))
    assert nmse(y, ort_run(exact, A=a)) <= 1e-9
    assert nmse(y, ort_run(model, A=a)) <= 5e-4


def test_matmul_nbits_float16_activations():
    rng = np.random.default_rng(6)
    model = nbits_model(64, 8, 4, 32, (2, 64), scales=rng.uniform(0.01, 0.1, size=(8, 2)).astype(np.float16),
                        a_type=TensorProto.FLOAT16)
    a = rng.standard_normal((2, 64)).astype(np.float16)
    prog = tensorc.import_onnx(model)
    y = tensorc.compile(prog)(A=a)["Y"]
    assert y.dtype == np.float16
    assert nmse(y, ort_run(model, A=a)) <= 1e-6


@pytest.mark.parametrize("kwargs,msg", [
    (dict(bits=8), r"unsupported bit width 8 \(supported: 2, 4\)"),
    (dict(bits=3), "unsupported bit width 3"),
    (dict(k=48, a_shape=(1, 48)), r"group size \(block_size\) 32 does not divide K = 48"),
    (dict(scales=np.ones((24, 3), np.float32)), r"scales have shape \[24, 3\], expected \[24, 2\]"),
    (dict(scales=np.ones(24, np.float32)), r"scales have shape \[24\], expected \[24, 2\] \(or \[48\]\)"),
    (dict(zp=np.ones((24, 5), np.uint8)), r"zero points \(packed uint8\) have shape \[24, 5\], expected \[24, 1\]"),
    (dict(zp=np.ones((24, 3), np.float32)), r"zero points have shape \[24, 3\], expected \[24, 2\]"),
    (dict(b=np.zeros((24, 2, 8), np.uint8)), r"B has shape \[24, 2, 8\], expected \[24, 2, 16\]"),
    (dict(g_idx=np.zeros(64, np.int32)), "g_idx .* not supported"),
    (dict(bias=np.zeros(5, np.float32)), r"bias has shape \[5\], expected \[24\]"),
    (dict(weight_prepacked=1), "weight_prepacked = 1"),
])
def test_matmul_nbits_errors_name_the_node(kwargs, msg):
    with pytest.raises(TensorcError, match=msg) as info:
        tensorc.import_onnx(nbits_model(**kwargs))
    text = str(info.value)
    assert text.startswith("node 'mnb': unsupported op com.microsoft.MatMulNBits") and "\n" not in text


# ---- DequantizeLinear → MatMul / Gemm --------------------------------------------------------------

_Q_TYPES = {"int4": (TensorProto.INT4, -8, 8), "uint4": (TensorProto.UINT4, 0, 16),
            "int2": (TensorProto.INT2, -2, 2), "uint2": (TensorProto.UINT2, 0, 4), "int8": (TensorProto.INT8, -128, 128)}


def dq_model(qtype="int4", layout="blocked_nk", k=64, n=16, block=16, with_zp=True, consumer="matmul",
             m=3, seed=0, gemm_attrs=None) -> onnx.ModelProto:
    """DequantizeLinear('dq') of a constant quantized weight feeding a MatMul / Gemm ('mm').

    layout: blocked_nk — W_q [N, K] blocked along K, then Transpose → MatMul (what exporters emit);
            blocked_kn — W_q [K, N] blocked along axis 0 straight into MatMul;
            per_channel — [N, K] per-axis 0, Transpose → MatMul; per_tensor — [K, N] one scale;
            per_k — [K, N] per-axis 0 (an input-channel scale: not expressible as groups);
            gemm_nk — [N, K] blocked along K into Gemm(transB=1)."""
    rng = np.random.default_rng(seed)
    dt, lo, hi = _Q_TYPES[qtype]
    nk = layout in ("blocked_nk", "per_channel", "gemm_nk")
    shape = [n, k] if nk else [k, n]
    q = rng.integers(lo, hi, size=shape)
    if layout in ("blocked_nk", "gemm_nk", "blocked_kn"):
        axis = 1 if nk else 0
        s_shape = list(shape)
        s_shape[axis] = -(-shape[axis] // block)
        attrs = dict(axis=axis, block_size=block)
    elif layout == "per_channel":
        s_shape, attrs = [n], dict(axis=0)
    elif layout == "per_k":
        s_shape, attrs = [k], dict(axis=0)
    else:
        s_shape, attrs = [], {}
    scale = rng.uniform(0.01, 0.1, size=s_shape).astype(np.float32)
    inits = [helper.make_tensor("W_q", dt, shape, q.reshape(-1).tolist()), numpy_helper.from_array(scale, "W_s")]
    dq_in = ["W_q", "W_s"]
    if with_zp:
        inits.append(helper.make_tensor("W_z", dt, s_shape, rng.integers(lo // 2, hi // 2, size=s_shape).reshape(-1).tolist()))
        dq_in.append("W_z")
    nodes = [helper.make_node("DequantizeLinear", dq_in, ["W"], name="dq", **attrs)]
    b = "W"
    if nk and consumer == "matmul":
        nodes.append(helper.make_node("Transpose", ["W"], ["Wt"], name="tr", perm=[1, 0]))
        b = "Wt"
    if consumer == "matmul":
        nodes.append(helper.make_node("MatMul", ["A", b], ["Y"], name="mm"))
    else:
        inits.append(numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "C"))
        nodes.append(helper.make_node("Gemm", ["A", b, "C"], ["Y"], name="mm", transB=int(nk), **(gemm_attrs or {})))
    graph = helper.make_graph(nodes, "dq", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])], inits)
    opset = 25 if qtype in ("int2", "uint2") else 21
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _dq_output(model) -> np.ndarray:
    """W as onnx.reference's DequantizeLinear computes it, laid out [N, K]."""
    dq = next(nd for nd in model.graph.node if nd.op_type == "DequantizeLinear")
    sub = helper.make_graph([dq], "w", [], [helper.make_tensor_value_info("W", TensorProto.FLOAT, None)],
                            list(model.graph.initializer))
    w = ReferenceEvaluator(helper.make_model(sub, opset_imports=model.opset_import)).run(None, {})[0]
    transposed = any(nd.op_type == "Transpose" for nd in model.graph.node) or any(
        a.name == "transB" and a.i for nd in model.graph.node for a in nd.attribute)
    return w if transposed else w.T


@pytest.mark.parametrize("qtype,layout,with_zp", [
    ("int4", "blocked_nk", True), ("int4", "blocked_nk", False), ("uint4", "blocked_nk", True),
    ("uint4", "blocked_kn", False), ("int4", "per_channel", True), ("uint4", "per_tensor", True),
    ("int4", "gemm_nk", True), ("int2", "blocked_nk", True), ("uint2", "blocked_kn", True),
])
def test_dequantize_linear_becomes_matmul_nbits(qtype, layout, with_zp):
    model = dq_model(qtype, layout, with_zp=with_zp, consumer="gemm" if layout.startswith("gemm") else "matmul")
    onnx.checker.check_model(model)
    prog = tensorc.import_onnx(model)
    ops = ops_of(prog)
    assert "tg.matmul_nbits" in ops and "tg.matmul" not in ops and "tg.gemm" not in ops, ops
    # the weight is bit-identical to what DequantizeLinear computes (q − z = v − zp exactly)
    codes, scales, zeros, k, bits, group = lowbit_weight(prog)
    w = dequantize(unpack_codes(codes, k, bits), scales, zeros, group)
    np.testing.assert_array_equal(w, _dq_output(model))
    a = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    y = tensorc.compile(prog)(A=a)["Y"]
    # the same weights; the products differ only in f32 summation order (BLAS on W vs Wᵀ)
    assert nmse(y, ReferenceEvaluator(model).run(None, {"A": a})[0]) <= 1e-12
    assert nmse(y, ort_run(model, fuse=False, A=a)) <= 1e-12
    assert nmse(y, ort_run(model, A=a)) <= 5e-4  # (ORT's own fusion, see ort_run)


def test_dequantize_linear_gemm_alpha_beta_trans_a():
    model = dq_model("int4", "gemm_nk", consumer="gemm", m=5, gemm_attrs=dict(alpha=0.5, beta=2.0))
    gemm = model.graph.node[-1]
    # A given transposed: [K, M]
    model.graph.input[0].CopyFrom(helper.make_tensor_value_info("A", TensorProto.FLOAT, [64, 5]))
    gemm.attribute.append(helper.make_attribute("transA", 1))
    prog = tensorc.import_onnx(model)
    assert "tg.matmul_nbits" in ops_of(prog)
    a = np.random.default_rng(2).standard_normal((64, 5)).astype(np.float32)
    assert nmse(tensorc.compile(prog)(A=a)["Y"], ort_run(model, fuse=False, A=a)) <= 1e-12


@pytest.mark.parametrize("qtype,layout,block", [
    ("int8", "blocked_nk", 16),    # 8-bit codes are not low-bit: plain dequantize + matmul
    ("int4", "per_k", 16),         # one scale per input channel: not groups along K
    ("int4", "blocked_nk", 24),    # the last block is partial (24 ∤ 64)
])
def test_dequantize_linear_layouts_that_stay_plain(qtype, layout, block):
    model = dq_model(qtype, layout, block=block)
    prog = tensorc.import_onnx(model)
    assert "tg.matmul_nbits" not in ops_of(prog)
    a = np.random.default_rng(3).standard_normal((3, 64)).astype(np.float32)
    assert nmse(tensorc.compile(prog)(A=a)["Y"], ort_run(model, fuse=False, A=a)) <= 1e-12


def test_dequantize_linear_scale_of_the_wrong_shape():
    model = dq_model("int4", "blocked_nk", with_zp=False)
    bad = numpy_helper.from_array(np.ones((16, 3), np.float32), "W_s")
    model.graph.initializer[1].CopyFrom(bad)
    with pytest.raises(TensorcError, match=r"^node 'dq': unsupported op DequantizeLinear \(opset 21\): scale has "
                                           r"shape \[16, 3\], expected \[16, 4\] \(block_size 16 along axis 1\)$"):
        tensorc.import_onnx(model)
    model = dq_model("int4", "per_channel", with_zp=False)
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(np.ones(64, np.float32), "W_s"))
    with pytest.raises(TensorcError, match=r"^node 'dq'.*scale has shape \[64\], expected \[16\] \(per axis 0\)$"):
        tensorc.import_onnx(model)


# ---- --quantize-weights ------------------------------------------------------------------------------

def fp32_model(k=64, hidden=32, n=16, m=4, seed=0) -> tuple[onnx.ModelProto, dict]:
    """MatMul(A, W1[K, H]) → Relu → Gemm(·, W2[N, H], C, transB=1, alpha, beta) → MatMul(·, W3[N, N]),
    the last weight shared with a second MatMul."""
    rng = np.random.default_rng(seed)
    w = {"W1": rng.standard_normal((k, hidden)), "W2": rng.standard_normal((n, hidden)),
         "C": rng.standard_normal(n), "W3": rng.standard_normal((n, n))}
    w = {key: v.astype(np.float32) for key, v in w.items()}
    nodes = [helper.make_node("MatMul", ["A", "W1"], ["h"], name="fc1"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2", "C"], ["g"], name="fc2", transB=1, alpha=0.5, beta=2.0),
             helper.make_node("MatMul", ["g", "W3"], ["o1"], name="fc3"),
             helper.make_node("MatMul", ["o1", "W3"], ["Y"], name="fc4")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])],
                              [numpy_helper.from_array(v, key) for key, v in w.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), w


@pytest.mark.parametrize("spec", ["w4g16", "w2g16s", "ternary", "w3"])
def test_quantize_weights_onnx(spec):
    model, w = fp32_model()
    prog = tensorc.import_onnx(model, quantize_weights=spec)
    ops = ops_of(prog)
    assert ops.count("tg.matmul_nbits") == 4 and "tg.matmul" not in ops and "tg.gemm" not in ops, ops
    names = [name for name, _ in prog.weights.items()]
    assert not {"W1", "W2", "W3"} & set(names), names     # the f32 weights are gone ...
    assert sum(n.startswith("W3.") for n in names) == 3   # ... and the shared W3 is quantized once
    a = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    y = tensorc.compile(prog)(A=a)["Y"]
    # numpy oracle: each weight W[out, in] through quantize_rtn, in the orientation the op reads it
    dq = {key: quantize_rtn(v, spec).dequantize() for key, v in
          (("W1", w["W1"].T), ("W2", w["W2"]), ("W3", w["W3"].T))}
    h = np.maximum(a @ dq["W1"].T, 0)
    g = 0.5 * (h @ dq["W2"].T) + 2.0 * w["C"]
    exp = (g @ dq["W3"].T) @ dq["W3"].T
    assert nmse(y, exp) <= 1e-10
    if spec == "ternary":
        assert all(op.attr("ternary") == 1 for op in prog.main.body.walk() if op.name == "tg.matmul_nbits")


def test_quantize_weights_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
    x = torch.randn(2, 3, 64)
    prog = tensorc.import_torch(module, (x,), quantize_weights="w4g32")
    assert ops_of(prog).count("tg.matmul_nbits") == 2 and "tg.gemm" not in ops_of(prog)
    y = next(iter(tensorc.compile(prog)(**{prog.signature.inputs[0].name: x.numpy()}).values()))
    with torch.no_grad():  # the same module with its weights replaced by their dequantized codes
        for lin in (module[0], module[2]):
            lin.weight.copy_(torch.from_numpy(quantize_rtn(lin.weight.numpy(), "w4g32").dequantize()))
        exp = module(x).numpy()
    assert nmse(y, exp) <= 1e-10


def test_quantize_weights_errors():
    model, _ = fp32_model()
    with pytest.raises(TensorcError, match=r"^quantize_weights: malformed spec 'w4x'"):
        tensorc.import_onnx(model, quantize_weights="w4x")
    with pytest.raises(TensorcError, match=r"^quantize_weights: spec 'w8g32': unsupported bit width 8"):
        tensorc.import_onnx(model, quantize_weights="w8g32")
    # K of fc1 is 64: 48 does not divide it; the error names the op and K
    with pytest.raises(TensorcError, match=r"^tg.matmul \(node 'fc1'\): quantize-weights w4g48a: group size 48 "
                                           r"does not divide K = 64"):
        tensorc.import_onnx(model, quantize_weights="w4g48")
    # K of fc2 is 32: g64 fits fc1 (K = 64) but not fc2
    with pytest.raises(TensorcError, match=r"node 'fc2'.*does not divide K = 32"):
        tensorc.import_onnx(model, quantize_weights="w4g64")


def test_quantize_weights_pass_in_a_pipeline():
    model, _ = fp32_model()
    prog = tensorc.lower(tensorc.import_onnx(model), "quantize-weights{spec=w4g16},cleanup")
    assert ops_of(prog).count("tg.matmul_nbits") == 4


# ---- the CLI ---------------------------------------------------------------------------------------------

def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def files(tmp_path):
    model, _ = fp32_model()
    paths = {"fp32": tmp_path / "mlp.onnx", "nbits8": tmp_path / "nbits8.onnx", "nbits_k48": tmp_path / "k48.onnx",
             "nbits_scales": tmp_path / "scales.onnx", "x": tmp_path / "x.npy"}
    onnx.save(model, paths["fp32"])
    onnx.save(nbits_model(bits=8), paths["nbits8"])
    onnx.save(nbits_model(k=48, a_shape=(1, 48)), paths["nbits_k48"])
    onnx.save(nbits_model(scales=np.ones((24, 3), np.float32)), paths["nbits_scales"])
    np.save(paths["x"], np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32))
    return paths


def test_cli_quantize_weights(files, tmp_path, capsys):
    assert main(["import", str(files["fp32"]), "--quantize-weights", "w4g16"]) == 0
    assert capsys.readouterr().out.count("tg.matmul_nbits(") == 4
    out = tmp_path / "out"
    assert main(["run", str(files["fp32"]), "--input", f"A={files['x']}", "--quantize-weights", "w2g16",
                 "--output-dir", str(out)]) == 0
    capsys.readouterr()
    exp = tensorc.compile(tensorc.import_onnx(files["fp32"], quantize_weights="w2g16"))(A=np.load(files["x"]))["Y"]
    np.testing.assert_array_equal(np.load(out / "Y.npy"), exp)


@pytest.mark.parametrize("argv,msg", [
    (["import", "{fp32}", "--quantize-weights", "w4x"], "error: --quantize-weights: malformed spec 'w4x'"),
    (["import", "{fp32}", "--quantize-weights", "w5g32"], "error: --quantize-weights: spec 'w5g32': unsupported bit width 5"),
    (["run", "{fp32}", "--input", "A={x}", "--quantize-weights", "g128"], "error: --quantize-weights: malformed spec 'g128'"),
    (["compile", "{fp32}", "--quantize-weights", "w4g"], "error: --quantize-weights: malformed spec 'w4g'"),
    (["import", "{fp32}", "--quantize-weights", "w4g48"],
     "error: tg.matmul (node 'fc1'): quantize-weights w4g48a: group size 48 does not divide K = 64"),
    (["import", "{nbits8}"], "error: node 'mnb': unsupported op com.microsoft.MatMulNBits (opset 1): unsupported bit width 8"),
    (["import", "{nbits_k48}"], "error: node 'mnb': unsupported op com.microsoft.MatMulNBits (opset 1): "
                                "group size (block_size) 32 does not divide K = 48"),
    (["run", "{nbits_scales}"], "error: node 'mnb': unsupported op com.microsoft.MatMulNBits (opset 1): "
                                "scales have shape [24, 3], expected [24, 2]"),
])
def test_cli_errors_are_one_line(files, argv, msg, capsys):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    assert main(argv) == 1
    assert _err(capsys).startswith(msg)


# ---- end to end: through the LUT path on the reference; tensorc compile (llvm-cpu) -----------------------

@pytest.mark.parametrize("bits", [2, 4])
def test_matmul_nbits_through_lut_mpgemm_matches_onnxruntime(bits):
    model = nbits_model(k=128, n=48, bits=bits, block=32, a_shape=(4, 128), seed=bits)
    a = np.random.default_rng(0).standard_normal((4, 128)).astype(np.float32)
    ref = ort_run(model, A=a)
    prog = tensorc.lower(tensorc.import_onnx(model), "lut-mpgemm")  # int8 tables: the bar
    assert "lut.mpgemm" in ops_of(prog)
    assert nmse(tensorc.compile(prog)(A=a)["Y"], ref) <= 5e-4
    prog = tensorc.lower(tensorc.import_onnx(model), "lut-mpgemm{table-type=f32},lut-symmetrize")
    assert nmse(tensorc.compile(prog)(A=a)["Y"], ref) <= 1e-9  # f32 tables: only the summation order differs


@pytest.mark.parametrize("bits", [2, 4])
def test_compile_matmul_nbits_matches_onnxruntime(bits, tmp_path, capsys):
    model = nbits_model(k=128, n=48, bits=bits, block=32, a_shape=(4, 128), seed=bits,
                        zp=np.random.default_rng(bits).integers(0, 256, size=(48, -(-4 * bits // 8)), dtype=np.uint8))
    path, pkg, x = tmp_path / "m.onnx", tmp_path / "m.tcpkg", tmp_path / "a.npy"
    onnx.save(model, path)
    a = np.random.default_rng(9).standard_normal((4, 128)).astype(np.float32)
    np.save(x, a)
    assert main(["compile", str(path), "-o", str(pkg)]) == 0, capsys.readouterr().err
    assert main(["run", str(pkg), "--input", f"A={x}", "--output-dir", str(tmp_path / "out")]) == 0
    assert nmse(np.load(tmp_path / "out" / "Y.npy"), ort_run(model, A=a)) <= 5e-4


def test_compile_quantize_weights_and_dequantize_linear(files, tmp_path, capsys):
    """--quantize-weights and the DequantizeLinear way in through `tensorc compile` (llvm-cpu)."""
    x = np.load(files["x"])
    pkg = tmp_path / "q.tcpkg"
    assert main(["compile", str(files["fp32"]), "--quantize-weights", "w4g16", "-o", str(pkg)]) == 0
    assert main(["run", str(pkg), "--input", f"A={files['x']}", "--output-dir", str(tmp_path / "q")]) == 0
    exp = tensorc.compile(tensorc.import_onnx(files["fp32"], quantize_weights="w4g16"))(A=x)["Y"]
    assert nmse(np.load(tmp_path / "q" / "Y.npy"), exp) <= 1e-9

    model = dq_model("int4", "blocked_nk", m=4)
    onnx.save(model, tmp_path / "dq.onnx")
    assert main(["compile", str(tmp_path / "dq.onnx"), "-o", str(tmp_path / "dq.tcpkg")]) == 0
    assert main(["run", str(tmp_path / "dq.tcpkg"), "--input", f"A={files['x']}", "--output-dir", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    assert nmse(np.load(tmp_path / "d" / "Y.npy"), ort_run(model, fuse=False, A=x)) <= 1e-9
