"""The llvm-cpu performance kernels agree with the reference interpreter (and onnxruntime).

SIMD matmul/gemm/batched matmul and conv2d (odd sizes, row/column tails, packed and
in-place operands), fused epilogues, the polynomial exp/tanh/erf, the thread pool
(threads=1 and 2 give identical outputs, also in a linked shared library), and the
two real models against onnxruntime.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import tensorc

RNG = np.random.default_rng(1234)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                          [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _randn(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _check(model, feeds, rtol=2e-5, atol=2e-5, threads=(1, 2)):
    """Compiled outputs equal the reference interpreter's; all thread counts give the same bits."""
    prog = tensorc.import_onnx(model)
    ref = tensorc.compile(prog, target="reference")(**feeds)
    got = None
    for t in threads:
        out = tensorc.compile(prog, target="llvm-cpu", threads=t)(**feeds)
        for k in ref:
            np.testing.assert_allclose(out[k], ref[k], rtol=rtol, atol=atol * max(1.0, np.abs(ref[k]).max()))
        if got is not None:
            for k in out:
                np.testing.assert_array_equal(out[k], got[k])
        got = out
    return prog


def _lowered(model):
    return tensorc.lower(tensorc.import_onnx(model), "cleanup,convert-tg-to-loops")


def _kernel_ops(model) -> list[str]:
    return [op.name for op in _lowered(model).module.walk()]


def _main_calls(model) -> int:
    """Kernel calls of @main (kernels may call shared microkernels themselves)."""
    main = next(op for op in _lowered(model).module.ops if op.sym_name.data == "main")
    return sum(1 for op in main.body.block.ops if op.name == "func.call")


# ---- matmul / gemm ----------------------------------------------------------------------------------
@pytest.mark.parametrize("m,k,n", [(1, 256, 1024), (64, 256, 256), (7, 13, 37), (6, 64, 32), (1, 5, 3),
                                   (13, 33, 10), (128, 32, 128), (3, 17, 100)])
def test_matmul_constant_b(m, k, n):
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [m, k])], [("y", [m, n])],
                   [("w", _randn(k, n, scale=k ** -0.5))])
    _check(model, {"x": _randn(m, k)})


@pytest.mark.parametrize("m,k,n", [(5, 7, 19), (32, 16, 48), (1, 9, 17)])
def test_matmul_activation_b(m, k, n):
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", [m, k]), ("b", [k, n])], [("y", [m, n])])
    _check(model, {"a": _randn(m, k), "b": _randn(k, n)})


@pytest.mark.parametrize("ashape,bshape", [([3, 5, 7, 9], [3, 5, 9, 13]), ([2, 1, 6, 4], [1, 3, 4, 33]),
                                           ([12, 128, 32], [12, 32, 128]), ([4, 17, 8], [8, 20])])
def test_batched_matmul(ashape, bshape):
    out = list(np.broadcast_shapes(tuple(ashape[:-2]), tuple(bshape[:-2]))) + [ashape[-2], bshape[-1]]
    if len(bshape) == 2:  # a constant 2-D B is packed
        model = _model([helper.make_node("MatMul", ["a", "w"], ["y"])], [("a", ashape)], [("y", out)],
                       [("w", _randn(*bshape))])
        _check(model, {"a": _randn(*ashape)})
    else:
        model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", ashape), ("b", bshape)], [("y", out)])
        _check(model, {"a": _randn(*ashape), "b": _randn(*bshape)})


@pytest.mark.parametrize("ta,tb,alpha,beta,cshape", [(0, 1, 1.0, 1.0, [37]), (1, 0, 0.5, 2.0, [9, 37]),
                                                      (1, 1, 1.5, 1.0, [9, 1]), (0, 0, 1.0, 0.0, [37])])
def test_gemm(ta, tb, alpha, beta, cshape):
    m, k, n = 9, 21, 37
    model = _model([helper.make_node("Gemm", ["a", "w", "c"], ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)],
                   [("a", [k, m] if ta else [m, k])], [("y", [m, n])],
                   [("w", _randn(*([n, k] if tb else [k, n]))), ("c", _randn(*cshape))])
    _check(model, {"a": _randn(*([k, m] if ta else [m, k]))})


def test_gemm_transposed_activation_b_falls_back():
    model = _model([helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)], [("a", [4, 6]), ("b", [5, 6])], [("y", [4, 5])])
    _check(model, {"a": _randn(4, 6), "b": _randn(5, 6)})


def test_matmul_vector_operand_falls_back():
    model = _model([helper.make_node("MatMul", ["a", "w"], ["y"])], [("a", [6])], [("y", [5])], [("w", _randn(6, 5))])
    _check(model, {"a": _randn(6)})


# ---- conv ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,c,h,w,m,k,s,p", [
    (1, 3, 32, 32, 16, 3, 1, 1), (1, 16, 16, 16, 32, 3, 1, 1), (1, 3, 23, 19, 5, 7, 2, 3), (2, 8, 9, 9, 12, 1, 2, 0),
    (1, 5, 7, 7, 20, 3, 1, 1), (1, 4, 10, 10, 9, 1, 1, 0), (1, 3, 11, 13, 17, 2, 3, 1), (1, 6, 15, 14, 8, 5, 1, 2),
])
def test_conv2d(n, c, h, w, m, k, s, p):
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)],
                   [("x", [n, c, h, w])], [("y", [n, m, oh, ow])],
                   [("w", _randn(m, c, k, k, scale=(c * k * k) ** -0.5)), ("b", _randn(m))])
    _check(model, {"x": _randn(n, c, h, w)})


def test_conv_asymmetric_pads_and_strides_no_bias():
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 2], strides=[2, 1], pads=[0, 1, 2, 0])],
                   [("x", [1, 4, 9, 8])], [("y", [1, 6, 5, 8])], [("w", _randn(6, 4, 3, 2))])
    _check(model, {"x": _randn(1, 4, 9, 8)})


def test_conv_residual_relu_epilogue():
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["h"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                    helper.make_node("Add", ["h", "r"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
                   [("x", [1, 8, 12, 12]), ("r", [1, 16, 12, 12])], [("y", [1, 16, 12, 12])],
                   [("w", _randn(16, 8, 3, 3, scale=0.2)), ("b", _randn(16))])
    _check(model, {"x": _randn(1, 8, 12, 12), "r": _randn(1, 16, 12, 12)})
    assert "vector.fma" in _kernel_ops(model)
    assert _main_calls(model) == 1  # conv + add + relu: one kernel


def test_conv_runtime_weights_fall_back():
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1] * 4)],
                   [("x", [1, 3, 6, 6]), ("w", [4, 3, 3, 3])], [("y", [1, 4, 6, 6])])
    _check(model, {"x": _randn(1, 3, 6, 6), "w": _randn(4, 3, 3, 3)})


def test_grouped_conv_falls_back():
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1] * 4, group=4)],
                   [("x", [1, 8, 6, 6])], [("y", [1, 8, 6, 6])], [("w", _randn(8, 2, 3, 3))])
    _check(model, {"x": _randn(1, 8, 6, 6)})


# ---- fused epilogues --------------------------------------------------------------------------------
def test_matmul_bias_gelu_erf_is_one_kernel():
    """MatMul → Add(bias) → x·0.5·(1 + erf(x/√2)): the GELU reads x twice and still fuses."""
    k, n = 48, 40
    model = _model([helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["h"]),
                    helper.make_node("Div", ["h", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                    helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["h", "e1"], ["g"]),
                    helper.make_node("Mul", ["g", "half"], ["y"])],
                   [("x", [2, 17, k])], [("y", [2, 17, n])],
                   [("w", _randn(k, n, scale=k ** -0.5)), ("b", _randn(n)), ("sqrt2", np.float32(math.sqrt(2))),
                    ("one", np.float32(1)), ("half", np.float32(0.5))])
    _check(model, {"x": _randn(2, 17, k)}, rtol=1e-5, atol=1e-5)
    assert _main_calls(model) == 1


@pytest.mark.parametrize("act,attrs", [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Elu", {"alpha": 0.7}),
                                       ("Sigmoid", {}), ("Tanh", {}), ("HardSigmoid", {}), ("Selu", {}),
                                       ("Softsign", {}), ("HardSwish", {}), ("ThresholdedRelu", {"alpha": 0.3})])
def test_gemm_activation_epilogues(act, attrs):
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node(act, ["h"], ["y"], **attrs)],
                   [("x", [5, 24])], [("y", [5, 19])], [("w", _randn(19, 24, scale=0.3)), ("b", _randn(19))])
    _check(model, {"x": _randn(5, 24)}, threads=(1,))
    assert _main_calls(model) == 1


def test_attention_scores_scale_mask_epilogue():
    model = _model([helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Div", ["s", "scale"], ["d"]),
                    helper.make_node("Add", ["d", "mask"], ["y"])],
                   [("q", [1, 3, 20, 8]), ("kt", [1, 3, 8, 20]), ("mask", [1, 1, 1, 20])], [("y", [1, 3, 20, 20])],
                   [("scale", np.float32(math.sqrt(8)))])
    _check(model, {"q": _randn(1, 3, 20, 8), "kt": _randn(1, 3, 8, 20), "mask": _randn(1, 1, 1, 20)})


def test_gemm_relu_with_shared_intermediate_is_not_fused():
    """An intermediate that is also a graph output must be materialized (the group is cut)."""
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                   [("x", [3, 10])], [("h", [3, 7]), ("y", [3, 7])], [("w", _randn(7, 10)), ("b", _randn(7))])
    _check(model, {"x": _randn(3, 10)})


# ---- max pool -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,k,s", [((1, 16, 32, 32), (2, 2), (2, 2)), ((2, 3, 37, 41), (3, 3), (2, 2)),
                                       ((1, 4, 20, 50), (3, 3), (1, 1)), ((1, 5, 8, 8), (2, 3), (1, 2))])
def test_max_pool_simd_matches_reference_with_nans(shape, k, s):
    oh, ow = (shape[2] - k[0]) // s[0] + 1, (shape[3] - k[1]) // s[1] + 1
    model = _model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=list(k), strides=list(s))],
                   [("x", list(shape))], [("y", [shape[0], shape[1], oh, ow])])
    x = _randn(*shape)
    x.flat[::97] = np.nan  # the reference's rule: a leading NaN stays, later NaNs are skipped
    prog = tensorc.import_onnx(model)
    ref = tensorc.compile(prog, target="reference")(x=x)["y"]
    for t in (1, 2):
        np.testing.assert_array_equal(tensorc.compile(prog, target="llvm-cpu", threads=t)(x=x)["y"], ref)
    assert "vector.shuffle" in _kernel_ops(model) or s[1] == 1


# ---- softmax / layer norm rows ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [[2, 3, 37], [4, 12, 128], [5, 16], [3, 100]])
def test_softmax_and_layer_norm_rows(shape):
    n = shape[-1]
    model = _model([helper.make_node("Softmax", ["x"], ["s"], axis=-1),
                    helper.make_node("LayerNormalization", ["x", "g", "b"], ["l"], axis=-1, epsilon=1e-5)],
                   [("x", shape)], [("s", shape), ("l", shape)], [("g", _randn(n)), ("b", _randn(n))])
    x = _randn(*shape, scale=4.0)
    x.reshape(-1, n)[0, : n // 2] = -1e4  # a half-masked row, as attention scores
    _check(model, {"x": x}, rtol=1e-5, atol=1e-6)
    ops = _kernel_ops(model)
    assert "vector.reduction" in ops


# ---- polynomial exp / tanh / erf ---------------------------------------------------------------------
@pytest.mark.parametrize("op,fn,tol", [("Exp", np.exp, 3e-7), ("Tanh", np.tanh, 1e-6),
                                       ("Erf", np.vectorize(math.erf), 1e-6)])
def test_approximate_math(op, fn, tol):
    x = np.concatenate([np.linspace(-12, 12, 4001), [0.0, -0.0, 1e-8, -3e-5, 88.0, -87.0, 100.0, -100.0]])
    x = x.astype(np.float32).reshape(1, -1)
    model = _model([helper.make_node(op, ["x"], ["y"])], [("x", list(x.shape))], [("y", list(x.shape))])
    y = tensorc.compile(tensorc.import_onnx(model), target="llvm-cpu", threads=1)(x=x)["y"]
    ref = fn(x.astype(np.float64)).astype(np.float32)
    if op == "Exp":  # relative accuracy down to the normal range; denormal results to their spacing
        normal = np.abs(ref) >= np.finfo(np.float32).tiny
        np.testing.assert_allclose(y[normal], ref[normal], rtol=tol, atol=0)
        np.testing.assert_allclose(y[~normal], ref[~normal], rtol=0, atol=1e-44)
    else:
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_approximate_math_special_values():
    x = np.array([[np.inf, -np.inf, np.nan, 89.0, -104.0]], np.float32)
    model = _model([helper.make_node("Exp", ["x"], ["e"]), helper.make_node("Tanh", ["x"], ["t"]),
                    helper.make_node("Erf", ["x"], ["f"])], [("x", [1, 5])], [("e", [1, 5]), ("t", [1, 5]), ("f", [1, 5])])
    out = tensorc.compile(tensorc.import_onnx(model), target="llvm-cpu", threads=1)(x=x)
    assert out["e"][0, 0] == np.inf and out["e"][0, 1] == 0.0 and np.isnan(out["e"][0, 2]) and out["e"][0, 3] == np.inf
    np.testing.assert_array_equal(out["t"][0, [0, 1, 3, 4]], [1, -1, 1, -1])
    np.testing.assert_array_equal(out["f"][0, [0, 1, 3, 4]], [1, -1, 1, -1])
    assert np.isnan(out["t"][0, 2]) and np.isnan(out["f"][0, 2])


def test_approximate_math_is_a_pass_in_the_pipeline():
    model = _model([helper.make_node("Tanh", ["x"], ["y"])], [("x", [4, 33])], [("y", [4, 33])])
    low = tensorc.lower(tensorc.import_onnx(model), "cleanup,convert-tg-to-loops,approximate-math")
    names = [op.name for op in low.module.walk()]
    assert "math.tanh" not in names and "arith.divf" in names


# ---- threads ---------------------------------------------------------------------------------------------
def test_threads_option_validated():
    from tensorc.diagnostics import BackendError

    model = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", [4])], [("y", [4])])
    with pytest.raises(BackendError, match="threads"):
        tensorc.compile(tensorc.import_onnx(model), target="llvm-cpu", threads=0)


def test_mlp_threads_equal_and_default():
    from tensorc.tools.models import small

    x = _randn(64, 256)
    prog = tensorc.import_onnx(small.mlp(64))
    outs = [tensorc.compile(prog, target="llvm-cpu", threads=t)(x=x)["y"] for t in (1, 2, 3, None)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    ref = tensorc.compile(prog, target="reference")(x=x)["y"]
    np.testing.assert_allclose(outs[0], ref, rtol=1e-4, atol=1e-5)


def test_thread_pool_in_a_shared_library(tmp_path):
    """A package's code carries the pool (linked in): a plain `cc -shared` library runs on 2 threads."""
    from tensorc.backends.llvm import aot, codegen
    from tensorc.pipeline import NAMED_PIPELINES, run_passes
    from tensorc.runtime.weights_blob import pack_weights
    from tensorc.tools.models import small

    try:
        aot.find_linker()
    except Exception:  # noqa: BLE001
        pytest.skip("no C toolchain")
    prog = tensorc.import_onnx(small.mlp(8))
    low = run_passes(prog.clone(), NAMED_PIPELINES["llvm-cpu"].replace("convert-to-llvm", "convert-to-llvm{threads=2}"))
    info = codegen.host_target()
    tm = codegen.target_machine(info, reloc="pic")
    mod = codegen.optimize(codegen.to_llvm_ir(low.module, info), tm)
    lib = ctypes.CDLL(str(aot.link_shared(aot.emit_object(mod, tm), tmp_path / "m.so")))
    attrs = low.module.attributes
    layout = [(a.data[0].data, a.data[1].value.data, a.data[2].value.data) for a in attrs["cpu.weights"].data]
    blob = pack_weights(low.weights, layout, attrs["cpu.weights_size"].value.data)
    arena = np.zeros(attrs["cpu.arena_size"].value.data + 64, np.uint8)
    x, y = _randn(8, 256), np.empty((8, 256), np.float32)
    args = (ctypes.c_void_p * 4)(x.ctypes.data, y.ctypes.data, blob.ctypes.data, arena.ctypes.data + (-arena.ctypes.data % 64))
    for _ in range(3):
        lib.tc_entry(args)
    ref = tensorc.compile(prog, target="reference")(x=x)["y"]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


# ---- real models against onnxruntime -------------------------------------------------------------------
def _ort(model_path, feeds, threads=1):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_minilm_128_tokens_matches_onnxruntime():
    minilm = pytest.importorskip("tensorc.tools.models.minilm")
    path = minilm.minilm_onnx_cached()
    ids = RNG.integers(1000, 30000, (1, 128)).astype(np.int64)
    mask = np.ones((1, 128), np.int64)
    mask[0, 100:] = 0  # padding exercises the attention mask
    feeds = {"input_ids": ids, "attention_mask": mask}
    prog = tensorc.import_onnx(str(path), input_shapes={"input_ids": (1, 128), "attention_mask": (1, 128)})
    got = next(iter(tensorc.compile(prog, target="llvm-cpu", threads=2)(**feeds).values()))
    np.testing.assert_allclose(got, _ort(path, feeds), rtol=1e-4, atol=1e-6)


def test_resnet18_matches_onnxruntime(tmp_path):
    resnet = pytest.importorskip("tensorc.tools.models.resnet")
    path = resnet.export_resnet18_onnx(tmp_path / "resnet18.onnx")
    x = _randn(1, 3, 224, 224)
    prog = tensorc.import_onnx(str(path))
    name = prog.signature.inputs[0].name
    got = next(iter(tensorc.compile(prog, target="llvm-cpu", threads=2)(**{name: x}).values()))
    ref = _ort(path, {name: x})
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
