"""What each instruction computes: the functional half of the simulator (numpy only).

Instructions run in program order on a byte-addressed scratchpad and DRAM. That order is also
what the hardware computes: the cycle model (timing.py) lets units overlap only where the
scoreboard finds no read/write conflict, so overlap never changes a result.

Numerics (docs/ltc.md §3 states them as the machine's contract):
- `pre` is docs/lut.md's `lut.precompute` (f32 sums in t order; i8 tables quantized per activation
  group with round-half-even; i16 tables exact), and f16 tables are those f32 sums rounded to f16.
- `lmma` sums table entries exactly — integer tables in integer arithmetic, f16 entries as integers
  in units of 2^-24 (the f16 grid), so the ×2^i of bit-plane i is exact, zero and subnormals
  included — then stores i32 (wrapping, as an adder would) or f32 (one rounding per block).
- `vdq` is lut.mpgemm's epilogue bit for bit: R in f64 (exact on the integer path), rounded to
  f32; y = y + f32(s·ts)·R, one f32 rounding per product and per sum, blocks in increasing order.
- `lmma.dq` is `lmma` followed by `vdq` with the accumulators and sums kept out of the scratchpad:
  the same values (i32 wrapping, f32 for f16 tables), the same epilogue, so the same bits.
- vector ops compute in f32 (transcendentals in f64, rounded once); integer stores round half
  to even and saturate (NaN stores 0).
"""

from __future__ import annotations

import math

import numpy as np

from . import isa
from .isa import FORM_ENTRIES, NUMPY_DTYPES, Instr
from .layout import unpack_planes

#: the f16 grid: every f16 value is an integer multiple of 2^-24
_F16_UNIT = 2.0 ** 24
#: keep one-hot weight blocks under this many elements per chunk
_CHUNK = 1 << 22


class Memory:
    def __init__(self, spad_bytes: int, dram_bytes: int):
        self.spad = np.zeros(spad_bytes, np.uint8)
        self.dram = np.zeros(dram_bytes, np.uint8)

    def _mem(self, space: str) -> np.ndarray:
        return self.spad if space == "spad" else self.dram

    def view(self, space: str, addr: int, rows: int, cols: int, dt, stride: int) -> np.ndarray:
        """A writable [rows, cols] view with byte row stride (bounds were checked at load)."""
        dt = np.dtype(NUMPY_DTYPES[dt] if isinstance(dt, str) else dt)
        return np.ndarray((rows, cols), dtype=dt, buffer=self._mem(space), offset=addr,
                          strides=(stride, dt.itemsize))

    def flat(self, space: str, addr: int, count: int, dt) -> np.ndarray:
        dt = np.dtype(NUMPY_DTYPES[dt] if isinstance(dt, str) else dt)
        return np.ndarray((count,), dtype=dt, buffer=self._mem(space), offset=addr)


class Counters:
    def __init__(self):
        self.acc_overflows = 0  # i32 accumulators that wrapped


def store(view: np.ndarray, value: np.ndarray) -> None:
    """Write f32/f64 values into a typed view: float types round to nearest even; integer types
    round half to even and saturate (NaN → 0)."""
    dt = view.dtype
    if dt.kind == "f":
        view[...] = value.astype(dt)
    else:
        info = np.iinfo(dt)
        v = np.nan_to_num(np.rint(value.astype(np.float64)), nan=0.0, posinf=info.max, neginf=info.min)
        view[...] = np.clip(v, info.min, info.max).astype(dt)


def _wrap32(x: np.ndarray, counters: Counters) -> np.ndarray:
    w = ((x.astype(np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)
    counters.acc_overflows += int(np.count_nonzero(w != x))
    return w.astype(np.int32)


# ---- table precompute -----------------------------------------------------------------------------

def _coefficients(form: str) -> np.ndarray:
    idx = np.arange(16)
    bit = (idx[:, None] >> np.arange(4)) & 1
    coef = bit if form == "unsigned" else 2 * bit - 1
    return coef[1::2] if form == "half" else coef


def precompute(a: np.ndarray, k: int, form: str, ttype: str, act_group: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables [M, K4, E] and table scales f32 [M, ceil(K/act_group)] (docs/lut.md §2; f16 tables are
    the f32 tables rounded to f16)."""
    integer = a.dtype == np.int8
    m = a.shape[0]
    k4 = isa.table_groups(k)
    quads = np.zeros((m, 4 * k4), np.int32 if integer else np.float32)
    quads[:, :k] = a if integer else a.astype(np.float32)
    quads = quads.reshape(m, k4, 4)
    coef = _coefficients(form).astype(quads.dtype)
    t = quads[:, :, None, 0] * coef[:, 0]  # the sum in t order, each c·a exact
    for i in range(1, 4):
        t = t + quads[:, :, None, i] * coef[:, i]
    n_ag = -(-k // act_group)
    tscales = np.ones((m, n_ag), np.float32)
    if ttype == "i16":
        return t.astype(np.int16), tscales
    t = t.astype(np.float32)
    if ttype == "f16":
        return t.astype(np.float16), tscales
    mag = np.abs(quads.astype(np.float32))
    absum = ((mag[:, :, 0] + mag[:, :, 1]) + mag[:, :, 2]) + mag[:, :, 3]
    per = act_group // 4
    pad = n_ag * per - k4
    if pad:
        absum = np.concatenate([absum, np.zeros((m, pad), np.float32)], axis=1)
    peak = absum.reshape(m, n_ag, per).max(axis=2)
    tscales = np.where(peak > 0, peak / np.float32(127), np.float32(1.0)).astype(np.float32)
    ts_j = np.repeat(tscales, per, axis=1)[:, :k4]
    q = np.rint(t / ts_j[:, :, None])
    return np.clip(q, -127, 127).astype(np.int8), tscales


# ---- the table-lookup matmul ----------------------------------------------------------------------

def lmma(tab: np.ndarray, idx: np.ndarray, form: str, block: int) -> tuple[np.ndarray, np.ndarray]:
    """acc [NB, M, N] and sums [M, NB], exact: int64 for integer tables, int64 in units of 2^-24
    for f16 tables. tab [M, K4, E], idx uint8 [bits, N, K4] (plain or sel|neg<<3 for half)."""
    m, k4, e = tab.shape
    bits, n, _ = idx.shape
    per = block // 4
    nb = k4 // per
    integer = tab.dtype.kind == "i"
    if integer:
        # integer operands below 2^53 in magnitude: float64 BLAS sums them exactly
        tabv = tab.astype(np.float64)
        wt = np.float64
    else:
        tabv = (tab.astype(np.float64) * _F16_UNIT).astype(np.int64)
        wt = np.int64
    lhs = np.ascontiguousarray(tabv.reshape(m, nb, per * e).transpose(1, 0, 2))  # [NB, M, per·E]
    acc = np.empty((nb, m, n), np.int64)
    rows = max(1, _CHUNK // max(1, k4 * e))
    for n0 in range(0, n, rows):
        n1 = min(n, n0 + rows)
        nc = n1 - n0
        # one-hot weights: weff[n, j, e] = Σ_i ±2^i [entry e is selected by plane i]
        weff = np.zeros((nc * k4, e), wt)
        flat_rows = np.arange(nc * k4)
        for i in range(bits):
            p = idx[i, n0:n1].reshape(-1)
            if form == "half":
                sel = p & 7
                val = np.where(p >> 3 & 1, -(1 << i), 1 << i).astype(wt)
            else:
                sel = p
                val = np.full(p.shape, 1 << i, wt)
            weff[flat_rows, sel] += val  # one entry per (n, j) per plane: no duplicate indices
        rhs = np.ascontiguousarray(weff.reshape(nc, nb, per * e).transpose(1, 2, 0))  # [NB, per·E, nc]
        # einsum's own loops, not BLAS: exact either way (integer-valued sums below 2^53, or int64),
        # and a multithreaded BLAS on a loaded machine is slower by orders of magnitude
        acc[:, :, n0:n1] = np.einsum("bmk,bkn->bmn", lhs, rhs)
    sums = tabv[:, :, e - 1].reshape(m, nb, per).sum(axis=2)  # T[15] (H[7]): the block's activation sum
    return acc, sums.astype(np.int64)


def _grid_to_f32(x: np.ndarray) -> np.ndarray:
    """Exact multiples of 2^-24 (int64) → f32 with one rounding."""
    return (x.astype(np.float32) * np.float32(1.0 / _F16_UNIT)).astype(np.float32)


# ---- vector functions --------------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def _unary(func: str, x: np.ndarray) -> np.ndarray:
    if func == "copy":
        return x
    if func == "neg":
        return -x
    if func == "abs":
        return np.abs(x)
    if func == "relu":
        return np.maximum(x, np.float32(0))
    if func == "square":
        return x * x
    d = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if func == "gelu":
            r = 0.5 * d * (1.0 + _erf(d / math.sqrt(2.0)).astype(np.float64))
        elif func == "gelu_tanh":
            r = 0.5 * d * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (d + 0.044715 * d ** 3)))
        elif func == "sigmoid":
            r = _sigmoid(d)
        elif func == "silu":
            r = d * _sigmoid(d)
        elif func == "tanh":
            r = np.tanh(d)
        elif func == "exp":
            r = np.exp(d)
        elif func == "sqrt":
            r = np.sqrt(d)
        elif func == "rsqrt":
            r = 1.0 / np.sqrt(d)
        elif func == "recip":
            r = 1.0 / d
        else:  # pragma: no cover - the enum is closed
            raise AssertionError(func)
    return r.astype(np.float32)


def _sigmoid(d: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(d))
    return np.where(d >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _f32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32)


# ---- the interpreter --------------------------------------------------------------------------------

def execute(ins: Instr, mem: Memory, counters: Counters) -> None:
    g = ins.__getitem__
    op = ins.op
    if op == "fence":
        return
    if op in ("dma.ld", "dma.st"):
        src_space, dst_space = ("dram", "spad") if op == "dma.ld" else ("spad", "dram")
        src = mem.view(src_space, g(src_space), g("rows"), g("row_bytes"), np.uint8, g(f"{src_space}_stride"))
        dst = mem.view(dst_space, g(dst_space), g("rows"), g("row_bytes"), np.uint8, g(f"{dst_space}_stride"))
        dst[...] = src
        return
    if op == "pre":
        m, k, form, tt = g("m"), g("k"), g("form"), g("ttype")
        a = mem.view("spad", g("src"), m, k, g("adt"), g("src_stride")).copy()
        tables, ts = precompute(a, k, form, tt, g("act_group"))
        k4e = isa.table_groups(k) * FORM_ENTRIES[form]
        mem.view("spad", g("tab"), m, k4e, tt, g("tab_stride"))[...] = tables.reshape(m, k4e)
        mem.view("spad", g("ts"), m, ts.shape[1], np.float32, g("ts_stride"))[...] = ts
        return
    if op == "lmma":
        _lmma(ins, mem, counters)
        return
    if op == "lmma.dq":
        _lmma_dq(ins, mem, counters)
        return
    if op == "vdq":
        _vdq(ins, mem)
        return
    if op == "vmm":
        m, n, k = g("m"), g("n"), g("k")
        a = mem.view("spad", g("a"), m, k, g("a_dt"), g("a_stride")).astype(np.float64)
        br, bc = (n, k) if g("transb") else (k, n)
        b = mem.view("spad", g("b"), br, bc, g("b_dt"), g("b_stride")).astype(np.float64)
        prod = _f32(np.einsum("mk,nk->mn" if g("transb") else "mk,kn->mn", a, b))
        c = mem.view("spad", g("c"), m, n, np.float32, g("c_stride"))
        c[...] = (c + prod) if g("accum") else prod
        return
    # element-wise and row ops: rows × cols, computed in f32
    rows, cols = g("rows"), g("cols")
    dst_dt = "i8" if op == "vquant" else g("dst_dt")
    if op == "vbin":
        a = _f32(mem.view("spad", g("a"), rows, cols, g("a_dt"), g("a_stride")))
        bc = g("bcast")
        br = 1 if bc in ("row", "scalar") else rows
        bcl = 1 if bc in ("col", "scalar") else cols
        b = _f32(mem.view("spad", g("b"), br, bcl, g("b_dt"), g("b_stride")))
        with np.errstate(all="ignore"):
            f = g("func")
            out = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                   "max": np.maximum, "min": np.minimum}[f](a, b)
    else:
        x = _f32(mem.view("spad", g("src"), rows, cols, g("src_dt"), g("src_stride")))
        if op == "vun":
            out = _unary(g("func"), x)
        elif op == "vsa":
            out = x * np.float32(g("alpha")) + np.float32(g("beta"))
        elif op == "vnorm":
            out = _norm(ins, mem, x)
        elif op == "vsoftmax":
            out = _softmax(ins, x)
        elif op == "vquant":
            amax = np.abs(x).max(axis=1)
            s = np.where(amax > 0, amax / np.float32(127), np.float32(1.0)).astype(np.float32)
            out = np.clip(np.rint(x / s[:, None]), -127, 127)
            mem.flat("spad", g("scales"), rows, np.float32)[...] = s
        else:  # pragma: no cover
            raise AssertionError(op)
    if op == "vun" and g("trans"):
        out = out.T
    drows, dcols = out.shape
    store(mem.view("spad", g("dst"), drows, dcols, dst_dt, g("dst_stride")), out)


def _norm(ins: Instr, mem: Memory, x: np.ndarray) -> np.ndarray:
    cols = ins["cols"]
    d = x.astype(np.float64)
    gamma = mem.flat("spad", ins["gamma"], cols, np.float32).astype(np.float64)
    eps = ins["eps"]
    if ins["kind"] == "layernorm":
        mu = d.mean(axis=1, keepdims=True)
        var = ((d - mu) ** 2).mean(axis=1, keepdims=True)
        r = (d - mu) / np.sqrt(var + eps) * gamma
    else:
        r = d / np.sqrt((d * d).mean(axis=1, keepdims=True) + eps) * gamma
    if ins["has_beta"]:
        r = r + mem.flat("spad", ins["beta"], cols, np.float32).astype(np.float64)
    return _f32(r)


def _softmax(ins: Instr, x: np.ndarray) -> np.ndarray:
    d = x.astype(np.float64) * ins["scale"]
    if ins["causal"]:
        r = np.arange(d.shape[0])[:, None]
        c = np.arange(d.shape[1])[None, :]
        d = np.where(c > r + ins["qoff"], -np.inf, d)
    d = d - d.max(axis=1, keepdims=True)
    e = np.exp(d)
    return _f32(e / e.sum(axis=1, keepdims=True))


def _lookups(ins: Instr, mem: Memory) -> tuple[np.ndarray, np.ndarray]:
    """The exact per-block sums of an lmma / lmma.dq: acc [NB, M, N], sums [M, NB] (int64)."""
    g = ins.__getitem__
    m, n, k, bits, form, tt = g("m"), g("n"), g("k"), g("bits"), g("form"), g("ttype")
    e = FORM_ENTRIES[form]
    k4 = k // 4
    tab = mem.view("spad", g("tab"), m, k4 * e, tt, g("tab_stride")).reshape(m, k4, e)
    wbytes = (k4 + 1) // 2
    idx = np.stack([unpack_planes(mem.view("spad", g("w") + i * g("w_plane"), n, wbytes, np.uint8, g("w_row")), k4)
                    for i in range(bits)])
    return lmma(tab, idx, form, g("block"))


def _lmma(ins: Instr, mem: Memory, counters: Counters) -> None:
    g = ins.__getitem__
    m, n, k, tt = g("m"), g("n"), g("k"), g("ttype")
    acc, sums = _lookups(ins, mem)
    nb = k // g("block")
    acc_v = mem.flat("spad", g("acc"), nb * m * n, np.int32 if tt != "f16" else np.float32).reshape(nb, m, n)
    sums_v = mem.flat("spad", g("sums"), m * nb, np.int32 if tt != "f16" else np.float32).reshape(m, nb)
    if tt == "f16":
        acc32, sums32 = _grid_to_f32(acc), _grid_to_f32(sums)
        if g("accum"):
            acc32, sums32 = acc_v + acc32, sums_v + sums32
        acc_v[...] = acc32
        sums_v[...] = sums32
    else:
        if g("accum"):
            acc = acc + acc_v.astype(np.int64)
            sums = sums + sums_v.astype(np.int64)
        acc_v[...] = _wrap32(acc, counters)
        sums_v[...] = _wrap32(sums, counters)


def _lmma_dq(ins: Instr, mem: Memory, counters: Counters) -> None:
    """lmma then vdq without the scratchpad in between: each block's accumulators and sums are what
    lmma would store (i32, wrapping; f32 for f16 tables), and the epilogue is vdq's, in block order."""
    acc, sums = _lookups(ins, mem)
    if ins["ttype"] == "f16":
        acc, sums = _grid_to_f32(acc), _grid_to_f32(sums)
    else:
        acc, sums = _wrap32(acc, counters), _wrap32(sums, counters)
    _epilogue(ins, mem, acc, sums)


def _vdq(ins: Instr, mem: Memory) -> None:
    g = ins.__getitem__
    m, n, nb = g("m"), g("n"), g("nb")
    at = np.int32 if g("acct") == "i32" else np.float32
    acc = mem.flat("spad", g("acc"), nb * m * n, at).reshape(nb, m, n)
    sums = mem.flat("spad", g("sums"), m * nb, at).reshape(m, nb)
    _epilogue(ins, mem, acc, sums)


def _epilogue(ins: Instr, mem: Memory, acc: np.ndarray, sums: np.ndarray) -> None:
    """lut.mpgemm's epilogue (docs/lut.md §2) on acc [NB, M, N] and sums [M, NB]: for b in order,
    R in f64 (exact on the integer path) rounded to f32, y = y + f32(s·ts)·R with one f32 rounding
    per product and per sum; y from 0.0, or from its value in the scratchpad with accum."""
    g = ins.__getitem__
    m, n, bits, form = g("m"), g("n"), g("bits"), g("form")
    nb = acc.shape[0]
    scols = isa._cols(nb, g("s_div"), g("s_phase"))
    tcols = isa._cols(nb, g("t_div"), g("t_phase"))
    scales = mem.view("spad", g("scales"), n, scols, np.float32, g("s_stride"))
    zeros = mem.view("spad", g("zeros"), n, scols, np.float32, g("s_stride"))
    ts = mem.view("spad", g("ts"), m, tcols, np.float32, g("ts_stride"))
    yv = mem.view("spad", g("y"), m, n, np.float32, g("y_stride"))
    y = yv.copy() if g("accum") else np.zeros((m, n), np.float32)
    top = (1 << bits) - 1
    for b in range(nb):
        cs = (b + g("s_phase")) // g("s_div")
        ct = (b + g("t_phase")) // g("t_div")
        a64 = acc[b].astype(np.float64)
        s64 = sums[:, b].astype(np.float64)[:, None]
        z64 = zeros[:, cs].astype(np.float64)[None, :]
        r = a64 - z64 * s64 if form == "unsigned" else (a64 + (top - 2 * z64) * s64) / 2
        sts = scales[:, cs][None, :] * ts[:, ct][:, None]  # f32 product
        y = y + sts * r.astype(np.float32)
    yv[...] = y
