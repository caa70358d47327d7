"""`tensorc bench lut`: low-bit weight GEMV/GEMM engines side by side, and MiniLM end to end (issue 5).

    tensorc bench lut [--json FILE] [--quick] [--part all|kernels|e2e] [--threads 1,all]
                      [--shapes 11008x4096,...] [--bits 1,2,4,ternary] [--batches 1,16]

**Kernels.** y[B, N] = x[B, K] · W[N, K]ᵀ with W = s · (q − z) in groups of 128 along K
(docs/lut.md §1), shapes (out × in) 4096×4096, 11008×4096, 4096×11008, batch 1 and 16,
1, 2, 4 bits (asymmetric: integer zero points) and ternary (codes {0, 1, 2}, z = 1), 1 thread
and all threads. Random codes, scales and zero points: the same weights reach every engine.

- `tensorc-lut`: the `tg.matmul_nbits` program through the LUT passes (lut.precompute +
  lut.mpgemm; `lut-mpgemm{form=signed table-type=i8 act-group=64},lut-symmetrize`, what
  `tensorc.compile(..., lut=True)` runs), compiled for llvm-cpu by the backend's own entry
  (kernels/lowbit_entry.py, docs/lut.md §4). Its time includes the table precompute; the
  precompute alone (the same program cut after `lut.precompute`) is reported as `precompute_us`.
- `tensorc-fused`: the `tg.matmul_nbits` program compiled as it is (the fused dequantize + dot
  kernel, engine `dequant-dot` of the same entry).
- `numpy-dequant`: unpack and dequantize to an f32 matrix, then BLAS GEMV/GEMM (all in the time).
- `onnxruntime`: `com.microsoft.MatMulNBits` (`accuracy_level=4`, `block_size=128`, packed
  uint8 zero points) for the bit widths it accepts (probed by creating a session; ternary
  runs as 2 bits with zero point 1), `intra_op_num_threads=T`, `inter_op_num_threads=1`; with
  T > 1 the DRAM rotation's sessions do not spin (see `build_ort`).
- `f32-numpy`, `f32-tensorc`: dense f32 GEMV/GEMM on the dequantized matrix (OpenBLAS
  through numpy with T BLAS threads; tensorc's compiled `tg.matmul`).

Every engine's output is checked against the dequantize-then-matmul oracle (float64):
`nmse` in every record; above 5e-4 the row is flagged.

Caches. `dram` rows rotate through enough copies of the weights (≥ 4× the last-level cache,
read from sysfs; at least 2 copies) that every call reads cold weights: compiled engines run
*one* compiled function on copies of its weight blob, onnxruntime one session per copy, numpy
one array per copy. `resident` rows call the same weights every time, for the engines whose
working set fits in half the LLC (others: no resident row). GB/s = the engine's weight bytes
(codes, scales, zero points as that engine stores them; for compiled engines the whole weight
blob) / median time, next to a measured streaming bandwidth: a compiled read-only sweep (a row
max) over 4× the LLC, 8 MiB per call, the slices in turn (the engines' DRAM rotation for a
pure read), timed inside every group's interleaving (`stream_gbps` of its rows: the median
there, under the same machine load); at the start also best/median of whole sweeps, with
numpy's `sum` as a cross-check (`stream` records).

Timing: warm-up (every copy once), then per engine ROUNDS turns of calls, the engines
interleaved so machine noise hits them alike, ≥ 100 runs per engine, median reported. The
numpy engines (OpenBLAS' threads keep spinning after a call) are timed after the others.

**End to end** (`--part e2e`, part of the full run): the trained all-MiniLM-L6-v2 with every
Linear quantized (w4g128, w2g64, ternary) by the `--quantize-weights` path
(`import_onnx(..., quantize_weights=spec)`), compiled with `lut=True` (the LUT path; the record
counts the matmuls it turned into lut.mpgemm) and without (the fused kernel), on the eight real
sentences of tools/models/minilm.py: cosine similarity of the sentence embeddings to the fp32
compiled model's, and latency against the fp32 compiled model (interleaved, ≥ 20 runs each).

JSON (`--json FILE`): a list of records, each with `kind`:
- `env`: cpu, cores, versions, llc_bytes, loadavg (start) and loadavg_end (1/5/15 min).
- `gemv`: shape [N, K], bits (1, 2, 4; ternary = 2 with `ternary: true`), batch, threads,
  engine, cache, median_us, p10_us, p90_us, runs, gbps, weight_bytes, copies, rotation_bytes
  (copies × weight bytes: ≥ 4× the LLC unless MAX_COPIES capped it), stream_gbps,
  nmse, ratio_to_onnxruntime, speedup_vs_f32, precompute_us (tensorc-lut), note (n/a rows:
  median_us null). Dense rows carry the bits of the group they were measured in: their
  weights are that group's dequantized matrix.
- `stream`: method (tensorc: 8 MiB calls; numpy: whole sweeps), threads, gbps (best call),
  gbps_median, bytes (the array: ≥ 4× LLC), call_bytes, llc_bytes.
- `e2e`: model, spec (fp32, w4g128, ...), path (f32, lut, fused), threads, batch, seq, median_us,
  fp32_median_us, speedup_vs_fp32, cosine_mean, cosine_min (to the fp32 compiled model's
  embeddings), cosine_vs_quantized_reference (min, to the reference interpreter on the
  quantized program: the kernels' own error).

`--report FILE` measures nothing: it prints the markdown tables of BENCHMARKS.md from such a file.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

GROUP = 128
SHAPES = ((4096, 4096), (11008, 4096), (4096, 11008))  # (N, K) = out × in
BATCHES = (1, 16)
BITS = ("1", "2", "4", "ternary")
ENGINES = ("tensorc-lut", "tensorc-fused", "onnxruntime", "numpy-dequant", "f32-numpy", "f32-tensorc")
NUMPY_ENGINES = ("numpy-dequant", "f32-numpy")  # BLAS threads spin after a call: timed after the others
MIN_RUNS = 100
ROUNDS = 4       # turns per engine
TURN_S = 0.15    # at least this much work per turn
PAUSE_S = 0.05   # idle before each turn (another engine's threads may still spin)
NMSE_MAX = 5e-4
E2E_SPECS = ("w4g128", "w2g64", "ternary")
MAX_COPIES = 64  # onnxruntime needs a session per copy


# ---- the machine --------------------------------------------------------------------------------
def llc_bytes() -> int:
    """Size of the last-level cache (cpu0's highest-level data/unified cache, from sysfs)."""
    best = (0, 0)
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(root.glob("index*")):
        try:
            level = int((idx / "level").read_text())
            kind = (idx / "type").read_text().strip()
            size = (idx / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
        nbytes = int(size.rstrip("KMG")) * mult
        best = max(best, (level, nbytes))
    if best[1]:
        return best[1]
    try:  # glibc knows it too
        n = os.sysconf("SC_LEVEL3_CACHE_SIZE")
        if n > 0:
            return n
    except (ValueError, OSError):
        pass
    raise SystemExit("error: cannot read the last-level cache size from /sys or sysconf; pass --llc-mib")


class Sweep:
    """Read-only sweeps over 4× the LLC with T threads.

    `tensorc`: a compiled row max (ONNX ReduceMax → llvm-cpu) over one CHUNK-byte slice per call,
    the slices taken in turn, so each call reads cold memory, like the engines' DRAM rotation,
    and is about as long as a GEMV call (a long call is likelier to be preempted on a busy
    machine, which would bias a whole-array sweep low). `numpy`: `sum` over the whole array,
    one slice per thread: a cross-check."""

    COLS = 4096
    CHUNK = 8 << 20

    def __init__(self, threads: int, llc: int):
        from concurrent.futures import ThreadPoolExecutor

        from onnx import TensorProto, helper

        import tensorc

        chunk_rows = self.CHUNK // (4 * self.COLS)
        n_chunks = max(2, -(-4 * llc // self.CHUNK))
        self.a = np.ones((n_chunks * chunk_rows, self.COLS), np.float32)
        self.nbytes = self.a.nbytes
        self.chunks = [self.a[i * chunk_rows:(i + 1) * chunk_rows] for i in range(n_chunks)]
        parts = np.array_split(self.a.reshape(-1), threads)
        self._pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.numpy = (lambda: parts[0].sum()) if self._pool is None else (lambda: list(self._pool.map(np.sum, parts)))
        g = helper.make_graph([helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0, axes=[1])], "sweep",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [chunk_rows, self.COLS])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [chunk_rows])])
        self._exe = tensorc.compile(tensorc.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])),
                                    target="llvm-cpu", threads=threads)
        self._out = np.empty(chunk_rows, np.float32)
        it = itertools.cycle(self.chunks)
        call = self._exe.native.call
        self.chunk = lambda: call([next(it), self._out])

    def measure(self, sweeps: int = 10) -> list[dict]:
        """Best and median GB/s of each way, over `sweeps` passes over the whole array."""
        out = []
        for how, f, calls, nbytes in (("tensorc", self.chunk, len(self.chunks), self.CHUNK),
                                      ("numpy", self.numpy, 1, self.nbytes)):
            for _ in range(calls):
                f()
            times = []
            for _ in range(sweeps * calls):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
            out.append({"kind": "stream", "method": how, "threads": None, "gbps": nbytes / min(times) / 1e9,
                        "gbps_median": nbytes / float(np.median(times)) / 1e9, "bytes": self.nbytes,
                        "call_bytes": nbytes})
        return out


# ---- weights and the oracle ---------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    label: str   # "1", "2", "4", "ternary"
    bits: int
    ternary: bool

    @staticmethod
    def parse(label: str) -> "Variant":
        if label == "ternary":
            return Variant(label, 2, True)
        if label in ("1", "2", "3", "4"):
            return Variant(label, int(label), False)
        raise argparse.ArgumentTypeError(f"--bits: unknown width '{label}' (1, 2, 3, 4 or ternary)")

    def spec(self, group: int) -> str:
        return f"ternary g{group}" if self.ternary else f"w{self.bits}g{group}a"


def random_weight(n: int, k: int, v: Variant, group: int, rng: np.random.Generator):
    """Random codes, positive scales and (asymmetric) integer zero points: W = s·(q − z)."""
    from tensorc.quant.lowbit import QuantizedWeight

    top = 3 if v.ternary else 1 << v.bits
    codes = rng.integers(0, top, (n, k), dtype=np.uint8)
    scales = rng.uniform(0.005, 0.02, (n, k // group)).astype(np.float32)
    zeros = (np.ones((n, k // group), np.float32) if v.ternary
             else rng.integers(0, top, (n, k // group)).astype(np.float32))
    return QuantizedWeight(codes, scales, zeros, v.bits, group, v.ternary)


def oracle(x: np.ndarray, w: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """x @ wᵀ in float64 (w: the dequantized f32 matrix), by row chunks of w to bound memory."""
    x64 = x.astype(np.float64)
    return np.concatenate([x64 @ w[i:i + chunk].astype(np.float64).T for i in range(0, w.shape[0], chunk)], axis=1)


def nmse(y: np.ndarray, ref: np.ndarray) -> float:
    y = np.asarray(y, np.float64)
    return float(np.sum((y - ref) ** 2) / max(np.sum(ref ** 2), 1e-300))


# ---- engines ------------------------------------------------------------------------------------
class Unavailable(Exception):
    """An engine cannot run this case (unsupported bit width, missing kernel): an n/a row with the reason."""


@dataclass
class Built:
    engine: str
    run: Callable[[int], object]           # one call on weight copy i
    output: Callable[[int], np.ndarray]    # the output buffer copy i's calls write
    weight_bytes: int                      # bytes of weights one call reads
    working_bytes: int                     # weights + per-call buffers (resident rows need it to fit)
    copies: int                            # the DRAM rows rotate over copies 0 .. copies−1
    keep: list = field(default_factory=list)  # objects that must outlive the timing
    resident: int = 0                      # the copy the resident rows call


def copies_for(nbytes: int, llc: int) -> int:
    """Weight copies so that one rotation reads ≥ 4× the LLC (and consecutive calls differ);
    at most MAX_COPIES (tiny weights: the record's rotation_bytes then says how far it got)."""
    return min(MAX_COPIES, max(2, math.ceil(4 * llc / max(nbytes, 1))))


def _aligned_copy(a: np.ndarray) -> np.ndarray:
    raw = np.empty(a.nbytes + 64, np.uint8)
    shift = -raw.ctypes.data % 64
    out = raw[shift:shift + a.nbytes]
    out[:] = a.reshape(-1).view(np.uint8)
    return out


class CompiledGemv:
    """One llvm-cpu executable, callable on any of several copies of its weight blob.

    The JIT's NativeModule passes the weight blob as the second-to-last entry argument; the
    copies are byte-identical blobs at other addresses, so one compiled function reads cold
    weights on every call without compiling N programs. (This uses the NativeModule's argument
    slots directly: calling through `exe(...)` would add ~10 µs of Python per call.)
    """

    def __init__(self, exe, inputs: list[np.ndarray], copies: int):
        native = exe.native
        for attr in ("_args", "_entry", "_blob", "_n_args"):
            if not hasattr(native, attr):
                raise RuntimeError(f"llvm-cpu NativeModule has no '{attr}': update CompiledGemv in tools/bench_lut.py")
        self.exe = exe
        self.outputs = [np.empty(s.shape, s.dtype) for s in exe.signature.outputs]
        self.inputs = inputs
        self.blobs = [native._blob] + [_aligned_copy(native._blob) for _ in range(copies - 1)]
        self._ptrs = [b.ctypes.data for b in self.blobs]
        self._args, self._entry, n = native._args, native._entry, native._n_args
        for i, b in enumerate(list(inputs) + self.outputs):
            self._args[i] = b.ctypes.data
        self._wslot = n - 2

    @property
    def weight_bytes(self) -> int:
        return self.blobs[0].nbytes

    def run(self, i: int) -> None:
        self._args[self._wslot] = self._ptrs[i]
        self._entry(self._args)


def _compile(prog, threads: int, **options):
    import tensorc
    from tensorc.diagnostics import TensorcError

    try:
        return tensorc.compile(prog, target="llvm-cpu", threads=threads, **options)
    except TensorcError as e:  # a missing kernel, or a compiler bug: that engine's rows say so, the run goes on
        raise Unavailable(f"llvm-cpu compile failed: {str(e).splitlines()[0]}") from None


def dense_program(w: np.ndarray, batch: int):
    """x[batch, K] → y = x @ wᵀ with wᵀ [K, N] a weight (ONNX MatMul, as exported Linears are)."""
    from onnx import TensorProto, helper, numpy_helper

    import tensorc

    n, k = w.shape
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "dense",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, n])],
                          [numpy_helper.from_array(np.ascontiguousarray(w.T), "W")])
    return tensorc.import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def compile_lowbit(qw, batch: int, engine: str, threads: int, pipeline: str | None):
    """The backend's own quantized GEMV/GEMM (kernels/lowbit_entry.py; docs/lut.md §4):
    engine `lut` (what `tensorc.compile(..., lut=True)` runs), `dequant-dot`, `precompute`."""
    from tensorc.backends.llvm.kernels.lowbit_entry import compile_lowbit as entry
    from tensorc.diagnostics import TensorcError

    try:
        return entry(qw, batch, engine, threads, pipeline=pipeline)
    except TensorcError as e:  # the engine cannot take this weight, or a compiler bug: its rows say so
        raise Unavailable(f"{engine}: {str(e).splitlines()[0]}") from None


def build_compiled(engine: str, exe, x: np.ndarray, llc: int, copies: int | None = None) -> Built:
    probe = CompiledGemv(exe, [x], 1)
    n = copies if copies is not None else copies_for(probe.weight_bytes, llc)
    del probe
    g = CompiledGemv(exe, [x], n)
    out_bytes = sum(o.nbytes for o in g.outputs)
    return Built(engine, g.run, lambda i, g=g: g.outputs[0], g.weight_bytes, g.weight_bytes + out_bytes + x.nbytes,
                 n, [g, exe])


def ort_model(qw, batch: int) -> tuple[bytes, int]:
    """com.microsoft.MatMulNBits on qw: B [N, K/G, G·b/8], f32 scales, packed uint8 zero points."""
    from onnx import TensorProto, helper, numpy_helper

    from tensorc.quant.lowbit import pack_codes

    n, k, b, g = qw.n, qw.k, qw.bits, qw.group
    if (g * b) % 8:
        raise Unavailable(f"block {g} × {b} bits is not whole bytes")
    codes = qw.packed().reshape(n, k // g, g * b // 8)
    zp = pack_codes(qw.zeros.astype(np.uint8), b).reshape(-1)   # per row, b bits per block, row-padded
    scales = qw.scales.reshape(-1)
    node = helper.make_node("MatMulNBits", ["x", "B", "scales", "zp"], ["y"], domain="com.microsoft",
                            K=k, N=n, bits=b, block_size=g, accuracy_level=4)
    graph = helper.make_graph([node], "nbits", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, n])],
                              [numpy_helper.from_array(codes, "B"), numpy_helper.from_array(scales, "scales"),
                               numpy_helper.from_array(zp, "zp")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    return model.SerializeToString(), codes.nbytes + scales.nbytes + zp.nbytes


def ort_session(model: bytes, threads: int, spinning: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 4  # an unsupported bit width is reported by us, not as an ERROR log line
    try:
        return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument types
        text = str(e)
        reason = text.split("was false.", 1)[-1].strip().splitlines()[0] if "was false." in text else text.splitlines()[0]
        raise Unavailable(f"onnxruntime refuses the session: {reason[:160]}") from None


def build_ort(qw, x: np.ndarray, threads: int, llc: int) -> Built:
    """One session per weight copy for the DRAM rotation. Each session has its own thread pool,
    whose threads spin for a while after a run: with T > 1, the next session's pool would compete
    with them for the cores (measured: batch 16 on 11008×4096, 2 threads, 44 ms instead of 8), so
    the rotated sessions do not spin, and the resident rows use one more session, as configured
    by default (spinning)."""
    model, wbytes = ort_model(qw, x.shape[0])
    n = copies_for(wbytes, llc)
    sessions, bindings, outs = [], [], []
    extra = threads > 1
    for i in range(n + extra):
        s = ort_session(model, threads, spinning=not extra or i == n)
        out = np.empty((x.shape[0], qw.n), np.float32)
        b = s.io_binding()
        b.bind_cpu_input("x", x)
        b.bind_output("y", "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        sessions.append(s)
        bindings.append(b)
        outs.append(out)
    runs = [lambda s=s, b=b: s.run_with_iobinding(b) for s, b in zip(sessions, bindings)]
    return Built("onnxruntime", lambda i: runs[i](), lambda i: outs[i], wbytes, wbytes + outs[0].nbytes,
                 n, [sessions, bindings, outs], resident=n if extra else 0)


def _code_table(bits: int) -> np.ndarray:
    """float32 [256, 8/bits]: the codes one packed byte holds, in stream order."""
    per = 8 // bits
    byte = np.arange(256, dtype=np.uint16)[:, None]
    return ((byte >> (np.arange(per) * bits)) & ((1 << bits) - 1)).astype(np.float32)


def build_numpy_dequant(qw, x: np.ndarray, llc: int) -> Built:
    """Per call: unpack the codes (one byte → 8/b floats by table), (q − z)·s, then BLAS."""
    n, k, g, b = qw.n, qw.k, qw.group, qw.bits
    if 8 % b or (k * b) % 8:
        raise Unavailable(f"numpy unpacking needs whole codes per byte and K·b a multiple of 8 (b={b}, K={k})")
    table = _code_table(b)
    packed, scales, zeros = qw.packed(), qw.scales, qw.zeros
    wbytes = packed.nbytes + scales.nbytes + zeros.nbytes
    nc = copies_for(wbytes, llc)
    data = [(packed.copy(), scales.copy(), zeros.copy()) for _ in range(nc)]
    buf = np.empty((n, k), np.float32)   # the dequantized matrix, reused (no page faults per call)
    out = np.empty((x.shape[0], n), np.float32)
    by_byte = buf.reshape(n, k * b // 8, 8 // b)
    by_group = buf.reshape(n, k // g, g)

    def run(i):
        p, s, z = data[i]
        np.take(table, p, axis=0, out=by_byte, mode="clip")  # (mode="raise" would buffer the output)
        np.subtract(by_group, z[:, :, None], out=by_group)
        np.multiply(by_group, s[:, :, None], out=by_group)
        np.matmul(x, buf.T, out=out)

    return Built("numpy-dequant", run, lambda i: out, wbytes, wbytes + buf.nbytes, nc, [data, buf, out])


def build_f32_numpy(w: np.ndarray, x: np.ndarray, llc: int) -> Built:
    nc = copies_for(w.nbytes, llc)
    copies = [w] + [w.copy() for _ in range(nc - 1)]
    out = np.empty((x.shape[0], w.shape[0]), np.float32)

    def run(i):
        np.matmul(x, copies[i].T, out=out)

    return Built("f32-numpy", run, lambda i: out, w.nbytes, w.nbytes, nc, [copies, out])


# ---- timing -------------------------------------------------------------------------------------
def interleaved(fns: dict, warmup: dict[str, int], min_runs: int = MIN_RUNS, rounds: int = ROUNDS,
                turn_s: float = TURN_S, pause_s: float = PAUSE_S) -> dict:
    """Samples (seconds) per key: warm-up (`warmup[key]` calls, at least 2), then `rounds` turns of
    each key in order, each turn ≥ turn_s of calls, ≥ min_runs samples per key in all."""
    est = {}
    for key, f in fns.items():
        for _ in range(max(2, warmup.get(key, 2))):
            t0 = time.perf_counter()
            f()
            est[key] = time.perf_counter() - t0
    per_turn = {key: max(math.ceil(min_runs / rounds), min(20000, int(turn_s / max(est[key], 1e-7))))
                for key in fns}
    samples = {key: [] for key in fns}
    for _ in range(rounds):
        for key, f in fns.items():
            time.sleep(pause_s)
            s = samples[key]
            for _ in range(per_turn[key]):
                t0 = time.perf_counter()
                f()
                s.append(time.perf_counter() - t0)
    return samples


def _stats(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1e6
    return {"median_us": float(np.median(a)), "p10_us": float(np.percentile(a, 10)),
            "p90_us": float(np.percentile(a, 90)), "runs": int(a.size)}


def _rotating(b: Built) -> Callable[[], object]:
    it = itertools.cycle(range(b.copies))
    run = b.run
    return lambda: run(next(it))


# ---- one group: (shape, batch, bits, threads), every engine, both cache modes -------------------
@dataclass
class Ctx:
    llc: int
    sweeps: dict[int, Sweep]  # threads → read-only sweeps over 4× the LLC
    set_blas: Callable[[int], None] | None
    min_runs: int = MIN_RUNS
    log: Callable[[str], None] = print
    rounds: int = ROUNDS
    turn_s: float = TURN_S
    pause_s: float = PAUSE_S
    lut_passes: str | None = None  # None: the backend's LUT pipeline (what lut=True runs)

    def time(self, fns: dict, warmup: dict, min_runs: int | None = None) -> dict:
        return interleaved(fns, warmup, self.min_runs if min_runs is None else min_runs, self.rounds,
                           self.turn_s, self.pause_s)


def run_group(n: int, k: int, batch: int, v: Variant, threads: int, ctx: Ctx, seed: int = 0,
              engines: Sequence[str] = ENGINES) -> list[dict]:
    rng = np.random.default_rng(seed)
    qw = random_weight(n, k, v, GROUP, rng)
    x = rng.standard_normal((batch, k)).astype(np.float32)
    w = qw.dequantize()
    ref = oracle(x, w)
    if ctx.set_blas is not None:
        ctx.set_blas(threads)

    built: dict[str, Built] = {}
    notes: dict[str, str] = {}
    precompute: Built | None = None

    def attempt(name, make):
        if name not in engines:
            return
        try:
            built[name] = make()
        except Unavailable as e:
            notes[name] = str(e)

    def make_lut():
        nonlocal precompute
        exe = compile_lowbit(qw, batch, "lut", threads, ctx.lut_passes)
        try:
            pre = compile_lowbit(qw, batch, "precompute", threads, ctx.lut_passes)
            precompute = build_compiled("precompute", pre, x, ctx.llc, copies=1)
        except Unavailable as e:
            notes["precompute"] = str(e)
        return build_compiled("tensorc-lut", exe, x, ctx.llc)

    attempt("tensorc-lut", make_lut)
    attempt("tensorc-fused", lambda: build_compiled(
        "tensorc-fused", compile_lowbit(qw, batch, "dequant-dot", threads, None), x, ctx.llc))
    attempt("onnxruntime", lambda: build_ort(qw, x, threads, ctx.llc))
    if ctx.set_blas is not None:  # numpy's matmuls would run on an unknown number of threads
        attempt("numpy-dequant", lambda: build_numpy_dequant(qw, x, ctx.llc))
        attempt("f32-numpy", lambda: build_f32_numpy(w, x, ctx.llc))
    else:
        notes["numpy-dequant"] = notes["f32-numpy"] = "the BLAS thread count is not controllable (no OpenBLAS found)"
    attempt("f32-tensorc", lambda: build_compiled("f32-tensorc", _compile(dense_program(w, batch), threads), x,
                                                  ctx.llc))

    # every engine computes the same thing: check it on the first and last copy and the resident one
    errs = {}
    for name, b in built.items():
        e = 0.0
        for i in sorted({0, b.copies - 1, b.resident}):
            b.output(i).fill(np.nan)
            b.run(i)
            e = max(e, nmse(b.output(i), ref))
        errs[name] = e

    records = []
    pre_us = stream_gbps = None
    for cache in ("dram", "resident"):
        if cache == "dram":
            active = dict(built)
            fns = {name: _rotating(b) for name, b in active.items()}
            # every copy once (onnxruntime: each session's first run); numpy's copies are plain arrays
            warm = {name: 2 if name in NUMPY_ENGINES else b.copies for name, b in active.items()}
        else:
            active = {name: b for name, b in built.items() if b.working_bytes <= ctx.llc // 2}
            fns = {name: (lambda r=b.run, i=b.resident: r(i)) for name, b in active.items()}
            warm = {name: 3 for name in active}
        first = {k_: f for k_, f in fns.items() if k_ not in NUMPY_ENGINES}
        if precompute is not None and cache == "dram":
            first["precompute"] = lambda r=precompute.run: r(0)
        sweep = ctx.sweeps.get(threads)
        if sweep is not None and cache == "dram":  # the streaming bandwidth under this group's conditions
            first["stream"] = sweep.chunk
            warm["stream"] = len(sweep.chunks)
        samples = ctx.time(first, warm) if first else {}
        if "stream" in samples:
            stream_gbps = sweep.CHUNK / _stats(samples["stream"])["median_us"] / 1e3
        pre_us = _stats(samples["precompute"])["median_us"] if "precompute" in samples else pre_us
        rest = {k_: f for k_, f in fns.items() if k_ in NUMPY_ENGINES}
        if rest:
            time.sleep(2 * ctx.pause_s)
            samples.update(ctx.time(rest, warm))
        stats = {name: _stats(samples[name]) for name in active}
        ort = stats.get("onnxruntime", {}).get("median_us")
        dense = [stats[e]["median_us"] for e in ("f32-numpy", "f32-tensorc") if e in stats]
        f32 = min(dense) if dense else None
        for name in engines:
            rec = {"kind": "gemv", "shape": [n, k], "bits": v.bits, "ternary": v.ternary, "format": v.spec(GROUP),
                   "batch": batch, "threads": threads, "engine": name, "cache": cache}
            if name in stats:
                st, b = stats[name], active[name]
                copies = b.copies if cache == "dram" else 1
                rec.update(st, weight_bytes=b.weight_bytes, copies=copies, rotation_bytes=copies * b.weight_bytes,
                           gbps=b.weight_bytes / st["median_us"] / 1e3, stream_gbps=stream_gbps,
                           nmse=errs[name],
                           ratio_to_onnxruntime=st["median_us"] / ort if ort else None,
                           speedup_vs_f32=f32 / st["median_us"] if f32 else None)
                if name == "tensorc-lut":
                    rec["precompute_us"] = pre_us if precompute is not None else None
                    if precompute is None:
                        rec["note"] = notes.get("precompute", "")
            else:
                rec.update(median_us=None, gbps=None, nmse=errs.get(name),
                           note=notes.get(name) or (f"working set {built[name].working_bytes / 2**20:.0f} MiB does "
                                                    f"not fit in half the {ctx.llc / 2**20:.0f} MiB LLC"
                                                    if name in built else "not run"))
            records.append(rec)
            ctx.log(row(rec))
    del built, precompute
    gc.collect()
    return records


# ---- MiniLM end to end --------------------------------------------------------------------------
def run_e2e(threads_list: Sequence[int], ctx: Ctx, specs: Sequence[str] = E2E_SPECS) -> list[dict]:
    """MiniLM fp32 vs every Linear quantized (`quantize_weights=spec`, the --quantize-weights path),
    each compiled through the LUT passes and as tg.matmul_nbits (the fused kernel)."""
    import onnxruntime as ort

    import tensorc
    from tensorc.backends.llvm.kernels.lowbit_entry import LUT_PIPELINE
    from tensorc.tools.models.minilm import SENTENCES, minilm_onnx_cached, tokenize

    ids, mask = (t.numpy() for t in tokenize(SENTENCES))
    feeds = {"input_ids": ids, "attention_mask": mask}
    path = str(minilm_onnx_cached(batch=None, seq=None))
    shapes = {"input_ids": ids.shape, "attention_mask": ids.shape}
    fp32 = tensorc.lower(tensorc.import_onnx(path, input_shapes=shapes), "cleanup")
    ort_emb = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    # (program, compile options) per (spec, path), and the quantized model's own oracle: the
    # reference interpreter (dequantize, then matmul), which tells kernel error from quantization error
    progs: dict[tuple[str, str], tuple] = {("fp32", "f32"): (fp32, {})}
    lut_count = {}
    qref, notes = {}, {}
    records = []
    fp32_ref = next(iter(tensorc.compile(fp32, target="reference")(**feeds).values()))
    for spec in specs:
        qprog = tensorc.lower(tensorc.import_onnx(path, input_shapes=shapes, quantize_weights=spec), "cleanup")
        qref[spec] = next(iter(tensorc.compile(qprog, target="reference")(**feeds).values()))
        cos = _cosines(qref[spec], fp32_ref)  # the quantization error alone, no kernel involved
        records.append({"kind": "e2e", "model": "all-MiniLM-L6-v2", "spec": spec, "path": "reference", "threads": None,
                        "batch": int(ids.shape[0]), "seq": int(ids.shape[1]), "median_us": None,
                        "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                        "note": "reference interpreter (dequantize, then matmul) vs fp32 reference: accuracy only"})
        ctx.log(e2e_row(records[-1]))
        progs[(spec, "fused")] = (qprog, {})
        # the LUT path as a user gets it (`lut=True`), or through --lut-passes; either way count
        # how many of the quantized matmuls the passes turned into lut.mpgemm
        low = tensorc.lower(qprog, ctx.lut_passes or LUT_PIPELINE)
        lut_count[spec] = (sum(op.name == "lut.mpgemm" for op in low.module.walk()),
                           sum(op.name == "tg.matmul_nbits" for op in qprog.module.walk()))
        progs[(spec, "lut")] = (low, {}) if ctx.lut_passes else (qprog, {"lut": True})
    for threads in threads_list:
        exes = {}
        for key, (prog, options) in progs.items():
            try:
                exes[key] = _compile(prog, threads, **options)
            except Unavailable as e:
                notes[key] = str(e)
        outs = {key: next(iter(e(**feeds).values())) for key, e in exes.items()}
        ctx.log(f"# MiniLM fp32 compiled ({threads} thread(s)) vs onnxruntime: cosine min "
                f"{_cosines(outs[('fp32', 'f32')], ort_emb).min():.7f}")
        samples = ctx.time({key: (lambda e=e: e(**feeds)) for key, e in exes.items()}, {},
                           min_runs=max(10, ctx.min_runs // 5))
        t32 = _stats(samples[("fp32", "f32")])["median_us"]
        for key in progs:
            spec, how = key
            rec = {"kind": "e2e", "model": "all-MiniLM-L6-v2", "spec": spec, "path": how, "threads": threads,
                   "batch": int(ids.shape[0]), "seq": int(ids.shape[1]), "fp32_median_us": t32}
            if key in exes:
                st = _stats(samples[key])
                cos = _cosines(outs[key], outs[("fp32", "f32")])
                rec.update(st, speedup_vs_fp32=t32 / st["median_us"], cosine_mean=float(cos.mean()),
                           cosine_min=float(cos.min()))
                if spec in qref:
                    rec["cosine_vs_quantized_reference"] = float(_cosines(outs[key], qref[spec]).min())
                if how == "lut":
                    rec["lut_matmuls"], rec["quantized_matmuls"] = lut_count[spec]
            else:
                rec.update(median_us=None, note=notes.get(key, "not run"))
            records.append(rec)
            ctx.log(e2e_row(rec))
        del exes
        gc.collect()
    return records


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-300)


# ---- output -------------------------------------------------------------------------------------
HEADER = (f"| {'N×K':<10} | {'B':>2} | {'bits':<7} | {'T':>1} | {'cache':<8} | {'engine':<13} | {'median µs':>10} | "
          f"{'p10–p90 µs':>15} | {'GB/s':>5} | {'%strm':>5} | {'t÷ORT':>6} | {'f32÷t':>6} | {'pre µs':>6} | "
          f"{'NMSE':>7} |")


def row(r: dict) -> str:
    shape = f"{r['shape'][0]}×{r['shape'][1]}"
    bits = "tern" if r["ternary"] else str(r["bits"])
    head = (f"| {shape:<10} | {r['batch']:>2} | {bits:<7} | {r['threads']:>1} | {r['cache']:<8} | "
            f"{r['engine']:<13} | ")
    if r.get("median_us") is None:
        return head + f"{'n/a':>10} | {r.get('note', '')[:90]}"
    spread = f"{r['p10_us']:.0f}–{r['p90_us']:.0f}"
    pct = f"{100 * r['gbps'] / r['stream_gbps']:.0f}" if r.get("stream_gbps") else ""
    ort = f"{r['ratio_to_onnxruntime']:.2f}×" if r.get("ratio_to_onnxruntime") else ""
    f32 = f"{r['speedup_vs_f32']:.2f}×" if r.get("speedup_vs_f32") else ""
    pre = f"{r['precompute_us']:.1f}" if r.get("precompute_us") is not None else ""
    flag = " !" if r["nmse"] > NMSE_MAX else ""
    return head + (f"{r['median_us']:>10.1f} | {spread:>15} | {r['gbps']:>5.1f} | {pct:>5} | {ort:>6} | {f32:>6} | "
                   f"{pre:>6} | {r['nmse']:>7.1e}{flag} |")


E2E_HEADER = (f"| {'model':<16} | {'weights':<8} | {'path':<9} | {'T':>1} | {'B×S':>6} | {'median ms':>9} | "
              f"{'fp32÷t':>7} | {'cos mean':>8} | {'cos min':>8} | {'cos vs quantized ref':>20} |")


def e2e_row(r: dict) -> str:
    head = (f"| {r['model']:<16} | {r['spec']:<8} | {r['path']:<9} | {r['threads'] or '':>1} | "
            f"{str(r['batch']) + '×' + str(r['seq']):>6} | ")
    if r.get("median_us") is None and "cosine_mean" in r:
        return head + f"{'':>9} | {'':>7} | {r['cosine_mean']:>8.5f} | {r['cosine_min']:>8.5f} | {'':>20} |"
    if r.get("median_us") is None:
        return head + f"{'n/a':>9} | {r.get('note', '')[:100]}"
    cq = f"{r['cosine_vs_quantized_reference']:.6f}" if "cosine_vs_quantized_reference" in r else ""
    return head + (f"{r['median_us'] / 1e3:>9.2f} | {r['speedup_vs_fp32']:>6.2f}× | {r['cosine_mean']:>8.5f} | "
                   f"{r['cosine_min']:>8.5f} | {cq:>20} |")


def _rule(header: str) -> str:
    return "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"


# ---- a markdown summary (BENCHMARKS.md) from the records ---------------------------------------
def _fmt_us(v) -> str:
    return "n/a" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def _ratio(a, b) -> str:
    return "" if a is None or b is None else f"{a / b:.2f}×"


def markdown(records: list[dict]) -> str:
    """The tables of BENCHMARKS.md: DRAM rows, resident rows, the acceptance checks, MiniLM."""
    gemv = [r for r in records if r.get("kind") == "gemv"]
    by = {}
    for r in gemv:
        by[(tuple(r["shape"]), r["batch"], r["bits"], r["ternary"], r["threads"], r["cache"], r["engine"])] = r
    groups = sorted({k[:5] for k in by}, key=lambda g: (g[0][::-1], g[1], g[4], g[2], g[3]))

    def get(g, cache, engine, field="median_us"):
        r = by.get((*g, cache, engine))
        return None if r is None else r.get(field)

    def name(g):
        (n, k), batch, bits, tern, threads = g
        return f"| {n}×{k} | {batch} | {'ternary' if tern else bits} | {threads} |"

    out = ["DRAM rows (weights rotated over ≥ 4× the LLC; medians in µs; LUT includes its precompute):", "",
           "| N×K | B | bits | T | LUT | (precompute) | fused | ORT | numpy dequant | f32 numpy | f32 tensorc "
           "| LUT GB/s | stream GB/s | LUT ÷ ORT | f32 ÷ LUT | LUT ÷ fused |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        lut, ort, fused = (get(g, "dram", e) for e in ("tensorc-lut", "onnxruntime", "tensorc-fused"))
        dense = [v for v in (get(g, "dram", "f32-numpy"), get(g, "dram", "f32-tensorc")) if v is not None]
        gb, st = get(g, "dram", "tensorc-lut", "gbps"), get(g, "dram", "tensorc-lut", "stream_gbps")
        out.append(f"{name(g)} {_fmt_us(lut)} | {_fmt_us(get(g, 'dram', 'tensorc-lut', 'precompute_us'))} | "
                   f"{_fmt_us(fused)} | {_fmt_us(ort)} | {_fmt_us(get(g, 'dram', 'numpy-dequant'))} | "
                   f"{_fmt_us(get(g, 'dram', 'f32-numpy'))} | {_fmt_us(get(g, 'dram', 'f32-tensorc'))} | "
                   f"{'' if gb is None else f'{gb:.1f}'} | {'' if st is None else f'{st:.1f}'} | "
                   f"{_ratio(lut, ort)} | {_ratio(min(dense) if dense else None, lut)} | {_ratio(lut, fused)} |")
    out += ["", "Cache-resident rows (the same weights every call; engines whose working set fits in half the LLC):",
            "", "| N×K | B | bits | T | LUT | fused | ORT | LUT GB/s | fused GB/s | ORT GB/s | LUT ÷ ORT |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        vals = [get(g, "resident", e) for e in ("tensorc-lut", "tensorc-fused", "onnxruntime")]
        if all(v is None for v in vals):
            continue
        gbs = [get(g, "resident", e, "gbps") for e in ("tensorc-lut", "tensorc-fused", "onnxruntime")]
        out.append(f"{name(g)} " + " | ".join(_fmt_us(v) for v in vals) + " | "
                   + " | ".join("" if v is None else f"{v:.1f}" for v in gbs) + f" | {_ratio(vals[0], vals[2])} |")
    bad = [r for r in gemv if r.get("nmse") is not None and r["nmse"] > NMSE_MAX]
    out += ["", f"Every measured row agrees with the dequantize-then-matmul oracle (NMSE ≤ {NMSE_MAX:g}): "
            + ("yes." if not bad else f"NO — {len(bad)} rows above it.")]
    # the acceptance checks of issue 5 (11008×4096 GEMV, 1 thread, DRAM)
    checks = []
    for bits, f32_min in ((2, 5.0), (4, 3.0)):
        g = ((11008, 4096), 1, bits, False, 1)
        lut, ort, fused = (get(g, "dram", e) for e in ("tensorc-lut", "onnxruntime", "tensorc-fused"))
        dense = [v for v in (get(g, "dram", "f32-numpy"), get(g, "dram", "f32-tensorc")) if v is not None]
        if lut is None:
            continue
        if ort is not None:
            checks.append(f"{bits}-bit LUT ÷ ORT = {lut / ort:.2f} (≤ 1.25: {'yes' if lut / ort <= 1.25 else 'NO'})")
        if dense:
            checks.append(f"{bits}-bit dense f32 ÷ LUT = {min(dense) / lut:.1f} "
                          f"(≥ {f32_min:g}: {'yes' if min(dense) / lut >= f32_min else 'NO'})")
        if bits == 2 and fused is not None:
            checks.append(f"2-bit LUT ÷ fused = {lut / fused:.2f} (< 1: {'yes' if lut < fused else 'NO'})")
    if checks:
        out += ["", "Acceptance (11008×4096, batch 1, 1 thread, DRAM rows): " + "; ".join(checks) + "."]
    e2e = [r for r in records if r.get("kind") == "e2e"]
    if e2e:
        out += ["", f"MiniLM (all-MiniLM-L6-v2; the {e2e[0]['batch']} sentences of tools/models/minilm.py, "
                f"{e2e[0]['batch']}×{e2e[0]['seq']} tokens), every Linear quantized by --quantize-weights; *reference* "
                "rows: the reference interpreter on the quantized program against fp32 (accuracy only):", "",
                "| weights | path | T | median ms | fp32 ms | fp32 ÷ t | cos to fp32 (mean) | (min) | "
                "cos to quantized reference (min) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in e2e:
            med = "" if r.get("median_us") is None else f"{r['median_us'] / 1e3:.1f}"
            f32 = "" if r.get("fp32_median_us") is None else f"{r['fp32_median_us'] / 1e3:.1f}"
            sp = "" if r.get("speedup_vs_fp32") is None else f"{r['speedup_vs_fp32']:.2f}×"
            cm = "" if r.get("cosine_mean") is None else f"{r['cosine_mean']:.4f}"
            cmin = "" if r.get("cosine_min") is None else f"{r['cosine_min']:.4f}"
            cq = "" if r.get("cosine_vs_quantized_reference") is None else f"{r['cosine_vs_quantized_reference']:.5f}"
            if r.get("median_us") is None and r.get("cosine_mean") is None:
                med = "n/a: " + r.get("note", "")[:80]
            how = r["path"] + (f" ({r['lut_matmuls']}/{r['quantized_matmuls']} matmuls)" if "lut_matmuls" in r else "")
            out.append(f"| {r['spec']} | {how} | {r['threads'] or ''} | {med} | {f32} | {sp} | {cm} | {cmin} "
                       f"| {cq} |")
    return "\n".join(out)


# ---- command line -------------------------------------------------------------------------------
def _shape_arg(text: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            n, k = (int(s) for s in part.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--shapes: '{part}' is not NxK (out × in), e.g. 11008x4096") from None
        if n < 1 or k < 1 or k % GROUP:
            raise argparse.ArgumentTypeError(f"--shapes: {part}: K must be a positive multiple of the group {GROUP}")
        out.append((n, k))
    return out


def _int_list(flag: str):
    def parse(text: str) -> list[int]:
        try:
            vals = [int(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: expected comma-separated integers, not '{text}'") from None
        if not vals or min(vals) < 1:
            raise argparse.ArgumentTypeError(f"{flag}: values must be >= 1")
        return vals
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    from tensorc.tools.bench_cpu import _blas_thread_setter, _threads_arg, environment

    p = argparse.ArgumentParser(prog="tensorc bench lut", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="FILE", help="write the records as a JSON list to FILE")
    p.add_argument("--report", metavar="FILE", help="measure nothing: print the markdown summary of a --json FILE")
    p.add_argument("--quick", action="store_true",
                   help="11008x4096, batch 1, 2 and 4 bits, 1 thread, kernels only (~1-2 min)")
    p.add_argument("--part", choices=("all", "kernels", "e2e"), default=None,
                   help="kernels, MiniLM end to end, or both (default: all; --quick: kernels)")
    p.add_argument("--threads", type=_threads_arg, default=None, metavar="N,M", help="default 1,all (--quick: 1)")
    p.add_argument("--shapes", type=_shape_arg, default=None, metavar="NxK,...", help="out × in (default: all three)")
    p.add_argument("--bits", type=lambda t: [Variant.parse(s.strip()) for s in t.split(",") if s.strip()],
                   default=None, metavar="B,...", help="of 1,2,3,4,ternary (default 1,2,4,ternary)")
    p.add_argument("--batches", type=_int_list("--batches"), default=None, metavar="B,...", help="default 1,16")
    p.add_argument("--engines", default=",".join(ENGINES), metavar="E,...", help=f"subset of {','.join(ENGINES)}")
    p.add_argument("--runs", type=_int_list("--runs"), default=[MIN_RUNS], metavar="N",
                   help=f"minimum timed runs per engine and case (default {MIN_RUNS})")
    p.add_argument("--rounds", type=_int_list("--rounds"), default=[ROUNDS], metavar="N",
                   help=f"interleaved turns per engine (default {ROUNDS})")
    p.add_argument("--turn-ms", type=float, default=TURN_S * 1e3, metavar="MS",
                   help=f"minimum work per turn; the pause before a turn is a third of it (default {TURN_S * 1e3:g})")
    p.add_argument("--llc-mib", type=float, default=None, help="last-level cache size (default: read from sysfs)")
    p.add_argument("--lut-passes", default=None, metavar="PIPELINE",
                   help="passes that turn tg.matmul_nbits into lut ops (default: the backend's, what "
                        "tensorc.compile(..., lut=True) runs)")
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.report:
        try:
            with open(args.report) as f:
                print(markdown(json.load(f)))
        except (OSError, ValueError) as e:
            print(f"error: --report {args.report}: {e}", file=sys.stderr)
            return 1
        return 0

    if args.json and not os.access(os.path.dirname(os.path.abspath(args.json)), os.W_OK):
        p.error(f"--json {args.json}: its directory is not writable (or does not exist)")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            p.error(f"--engines: unknown engine '{e}' (available: {', '.join(ENGINES)})")
    part = args.part or ("kernels" if args.quick else "all")
    threads = args.threads or ([1] if args.quick else _threads_arg("1,all"))
    shapes = args.shapes or ([(11008, 4096)] if args.quick else list(SHAPES))
    variants = args.bits or [Variant.parse(b) for b in (("2", "4") if args.quick else BITS)]
    batches = args.batches or ([1] if args.quick else list(BATCHES))
    llc = int(args.llc_mib * 2**20) if args.llc_mib else llc_bytes()

    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    env = environment()
    print(f"# tensorc bench lut — {env['cpu']}, {env['cores']} cores, LLC {llc / 2**20:g} MiB; "
          f"onnxruntime {env['onnxruntime']}, numpy {env['numpy']}; load average "
          f"{env['loadavg'][0]:.2f}" if env["loadavg"] else "", flush=True)
    records: list[dict] = []
    sweeps = {}
    for t in threads:
        sweeps[t] = Sweep(t, llc)
        for rec in sweeps[t].measure():
            rec.update(threads=t, llc_bytes=llc)
            records.append(rec)
            print(f"# streaming read, {t} thread(s), {rec['method']}: {rec['gbps']:.1f} GB/s best, "
                  f"{rec['gbps_median']:.1f} median ({rec['call_bytes'] / 2**20:g} MiB per call over {rec['bytes'] / 2**20:g} MiB)", flush=True)
    ctx = Ctx(llc, sweeps, _blas_thread_setter(), min_runs=args.runs[0],
              log=lambda line: print(line, flush=True), rounds=args.rounds[0], turn_s=args.turn_ms / 1e3,
              pause_s=args.turn_ms / 3e3, lut_passes=args.lut_passes)
    if part in ("all", "kernels"):
        print(HEADER)
        print(_rule(HEADER), flush=True)
        for (n, k), batch, t, v in itertools.product(shapes, batches, threads, variants):
            records += run_group(n, k, batch, v, t, ctx, engines=engines)
    if part in ("all", "e2e"):
        print(E2E_HEADER)
        print(_rule(E2E_HEADER), flush=True)
        records += run_e2e(threads, ctx)
    env.update(kind="env", llc_bytes=llc, loadavg_end=os.getloadavg() if env["loadavg"] else None)
    records.insert(0, env)
    if env["loadavg"]:
        print(f"# load average at the end: {env['loadavg_end'][0]:.2f}")
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(records, f, indent=1)
        except OSError as e:
            print(f"error: --json {args.json}: {e.strerror}", file=sys.stderr)
            return 1
        print(f"# wrote {len(records)} records to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
