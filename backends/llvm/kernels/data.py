"""Data movement: transpose, concat, slice, split, expand, tile, pad, depth/space rearrangements,
trilu, reverse_sequence, range.

These kernels move elements without looking at them, so they work for every
element type: buffers are read and written in their storage type (`raw_load` /
`raw_store`: bf16 as i16 bits, f8 and int4 as bytes, bool as i1). Loops run over
the output in row-major order, so the innermost loop writes contiguously.
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B

from ..kernel_builder import KernelBuilder
from ..scalar import is_subbyte, storage_view
from . import UnsupportedKernel, kernel
from .elementwise import broadcast_index
from .kit import (
    clamp, cmpi, const_of, etype, from_compute, in_range, index_to_i64, is_float, load_elem, load_index, mods, sel,
    shape, store_elem, sub, to_f,
)


def raw_load(kb: KernelBuilder, buf, idx):
    return kb.load(storage_view(kb, buf), list(idx))


def raw_store(kb: KernelBuilder, v, buf, idx) -> None:
    kb.store(v, storage_view(kb, buf), list(idx))


def copy_into(kb: KernelBuilder, src, dst, src_index, bounds) -> None:
    """dst[ivs] = src[src_index(ivs)] over a loop nest of `bounds` (the dst shape)."""
    with kb.loops(bounds) as ivs:
        raw_store(kb, raw_load(kb, src, src_index(ivs)), dst, ivs)


@kernel("transpose")
def transpose(kb: KernelBuilder, ins, outs, op) -> None:
    """Row-major over the output; when the input's last axis is not the output's last, the two
    axes concerned are tiled (TILE x TILE blocks) so reads and writes both stay in cache lines."""
    perm = op.attr("perm")
    ys = shape(outs[0])
    r = len(perm)

    def src(ivs):
        s = [None] * r
        for out_axis, in_axis in enumerate(perm):
            s[in_axis] = ivs[out_axis]
        return s

    a = perm.index(r - 1) if r else 0  # output axis that reads the input's last axis
    b = r - 1
    if r < 2 or a == b or ys[a] < 2 * TILE or ys[b] < 2 * TILE:
        copy_into(kb, ins[0], outs[0], src, ys)
        return
    cms, ivs = [], [None] * r
    for d in range(r):
        cm = kb.loop(0, ys[d], TILE) if d in (a, b) else kb.loop(0, ys[d])
        ivs[d] = cm.__enter__()
        cms.append(cm)
    tiles = {}
    for d in (a, b):
        if ys[d] % TILE == 0:
            tiles[d] = TILE
        else:
            tiles[d] = kb.op(arith.MinSIOp(kb.idx(TILE), sub(kb, kb.idx(ys[d]), ivs[d])))
    with kb.loop(0, tiles[b]) as ib:
        with kb.loop(0, tiles[a]) as ia:
            full = list(ivs)
            full[a] = kb.add(ivs[a], ia)
            full[b] = kb.add(ivs[b], ib)
            raw_store(kb, raw_load(kb, ins[0], src(full)), outs[0], full)
    for cm in reversed(cms):
        cm.__exit__(None, None, None)


TILE = 16


@kernel("concat")
def concat(kb: KernelBuilder, ins, outs, op) -> None:
    axis = op.attr("axis") % len(shape(outs[0]))
    offset = 0
    for buf in ins:
        sh = shape(buf)
        if sh[axis] == 0:
            continue
        with kb.loops(sh) as ivs:
            dst = list(ivs)
            dst[axis] = kb.add(ivs[axis], offset)
            raw_store(kb, raw_load(kb, buf, ivs), outs[0], dst)
        offset += sh[axis]


@kernel("split")
def split(kb: KernelBuilder, ins, outs, op) -> None:
    axis = op.attr("axis") % len(shape(ins[0]))
    offset = 0
    for buf in outs:
        sh = shape(buf)
        off = offset

        def src(ivs, off=off):
            s = list(ivs)
            s[axis] = kb.add(ivs[axis], off)
            return s

        copy_into(kb, ins[0], buf, src, sh)
        offset += sh[axis]


@kernel("slice")
def slice_(kb: KernelBuilder, ins, outs, op) -> None:
    in_shape = shape(ins[0])
    start = [0] * len(in_shape)
    step = [1] * len(in_shape)
    for s, e, a, p in zip(op.attr("starts"), op.attr("ends"), op.attr("axes"), op.attr("steps")):
        a %= len(in_shape)
        start[a] = range(*slice(s, e, p).indices(in_shape[a])).start
        step[a] = p

    def src(ivs):
        idx = []
        for d, iv in enumerate(ivs):
            if step[d] < 0:
                idx.append(sub(kb, kb.idx(start[d]), kb.mul(iv, -step[d])))
            else:
                idx.append(kb.add(kb.mul(iv, step[d]), start[d]))
        return idx

    copy_into(kb, ins[0], outs[0], src, shape(outs[0]))


@kernel("expand")
def expand(kb: KernelBuilder, ins, outs, op) -> None:
    copy_into(kb, ins[0], outs[0], lambda ivs: broadcast_index(kb, shape(ins[0]), ivs), shape(outs[0]))


@kernel("tile")
def tile(kb: KernelBuilder, ins, outs, op) -> None:
    """Loops over (repeat, element) pairs per axis: no division in the body."""
    xs = shape(ins[0])
    reps = op.attr("repeats")
    bounds = []
    for d, r in zip(xs, reps):
        bounds += [r, d]
    with kb.loops(bounds) as ivs:
        src = [ivs[2 * a + 1] for a in range(len(xs))]
        dst = [kb.add(kb.mul(ivs[2 * a], xs[a]), ivs[2 * a + 1]) for a in range(len(xs))]
        raw_store(kb, raw_load(kb, ins[0], src), outs[0], dst)


@kernel("pad")
def pad(kb: KernelBuilder, ins, outs, op) -> None:
    """constant / edge / reflect / wrap; negative pads crop first (as the reference)."""
    xs = shape(ins[0])
    r = len(xs)
    pads = op.attr("pads")
    mode = op.attr("mode")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise UnsupportedKernel(f"{op.where()}: pad mode {mode!r}")
    t = etype(op.inputs[0])
    cval = op.attr("constant_value") or 0.0
    with kb.loops(shape(outs[0])) as ivs:
        src, valid = [], None
        for a in range(r):
            pb, pe = pads[a], pads[r + a]
            lo, crop = max(pb, 0), max(-pb, 0)
            n = xs[a] - crop - max(-pe, 0)  # extent after cropping
            if pb <= 0 and pe <= 0:  # crop only
                src.append(kb.add(ivs[a], crop))
                continue
            if n <= 0:
                if mode != "constant":
                    raise UnsupportedKernel(f"{op.where()}: {mode} padding of an empty axis")
                valid = kb.const(0, B.i1)
                src.append(kb.idx(0))
                continue
            j = sub(kb, ivs[a], lo) if lo else ivs[a]
            if mode == "constant":
                ok = in_range(kb, j, 0, n)
                valid = ok if valid is None else kb.op(arith.AndIOp(valid, ok))
                j = clamp(kb, j, 0, n - 1)
            elif mode == "edge":
                j = clamp(kb, j, 0, n - 1)
            elif mode == "wrap":
                j = mods(kb, j, n)
            elif n == 1:
                j = kb.idx(0)
            else:  # reflect: period 2(n-1)
                p = 2 * (n - 1)
                m = mods(kb, j, p)
                j = sel(kb, cmpi(kb, m, kb.idx(n), "slt"), m, sub(kb, kb.idx(p), m))
            src.append(kb.add(j, crop))
        v = raw_load(kb, ins[0], src)
        if valid is not None:
            v = sel(kb, valid, v, _raw_const(kb, cval, t))
        raw_store(kb, v, outs[0], ivs)


def _raw_const(kb, v, t):
    """A constant of tg type `t` in its storage representation."""
    c = const_of(kb, v, t)
    if is_subbyte(t):
        c = kb.op(arith.AndIOp(c, kb.const((1 << t.width.data) - 1, c.type)))
    return c


@kernel("depth_to_space")
def depth_to_space(kb: KernelBuilder, ins, outs, op) -> None:
    n, c, h, w = shape(ins[0])
    b = op.attr("blocksize")
    co = c // (b * b)
    dcr = op.attr("mode") == "DCR"
    with kb.loops([n, co, h, b, w, b]) as (ni, ci, hi, i, wi, j):
        if dcr:  # channel (i*b + j)*co + c
            src_c = kb.add(kb.mul(kb.add(kb.mul(i, b), j), co), ci)
        else:  # CRD: c*b*b + i*b + j
            src_c = kb.add(kb.add(kb.mul(ci, b * b), kb.mul(i, b)), j)
        v = raw_load(kb, ins[0], [ni, src_c, hi, wi])
        raw_store(kb, v, outs[0], [ni, ci, kb.add(kb.mul(hi, b), i), kb.add(kb.mul(wi, b), j)])


@kernel("space_to_depth")
def space_to_depth(kb: KernelBuilder, ins, outs, op) -> None:
    n, c, h, w = shape(ins[0])
    b = op.attr("blocksize")
    ho, wo = h // b, w // b
    dcr = op.attr("mode") == "DCR"
    outer = [n, b, b, c] if dcr else [n, c, b, b]
    with kb.loops(outer + [ho, wo]) as ivs:
        if dcr:
            ni, i, j, ci, hi, wi = ivs
            dst_c = kb.add(kb.mul(kb.add(kb.mul(i, b), j), c), ci)
        else:
            ni, ci, i, j, hi, wi = ivs
            dst_c = kb.add(kb.add(kb.mul(ci, b * b), kb.mul(i, b)), j)
        v = raw_load(kb, ins[0], [ni, ci, kb.add(kb.mul(hi, b), i), kb.add(kb.mul(wi, b), j)])
        raw_store(kb, v, outs[0], [ni, dst_c, hi, wi])


@kernel("trilu")
def trilu(kb: KernelBuilder, ins, outs, op) -> None:
    k, upper = op.attr("k"), op.attr("upper")
    t = etype(op.inputs[0])
    z = _raw_const(kb, 0, t)
    with kb.loops(shape(outs[0])) as ivs:
        i, j = ivs[-2], ivs[-1]
        d = sub(kb, j, i)  # keep j - i >= k (upper) or j - i <= k (lower)
        keep = cmpi(kb, d, kb.idx(k), "sge" if upper else "sle")
        raw_store(kb, sel(kb, keep, raw_load(kb, ins[0], ivs), z), outs[0], ivs)


@kernel("reverse_sequence")
def reverse_sequence(kb: KernelBuilder, ins, outs, op) -> None:
    xs = shape(ins[0])
    bax, tax = op.attr("batch_axis") % len(xs), op.attr("time_axis") % len(xs)
    lt = etype(op.inputs[1])
    with kb.loops(xs) as ivs:
        ln = load_index(kb, ins[1], [ivs[bax]], lt)
        t = ivs[tax]
        rev = cmpi(kb, t, ln, "slt")
        src = list(ivs)
        src[tax] = sel(kb, rev, sub(kb, sub(kb, ln, 1), t), t)
        raw_store(kb, raw_load(kb, ins[0], src), outs[0], ivs)


@kernel("range")
def range_(kb: KernelBuilder, ins, outs, op) -> None:
    """start + i * delta: floats through float64 (as numpy's arange), integers wrapping."""
    t = etype(op.outputs[0])
    (n,) = shape(outs[0])
    start = load_elem(kb, ins[0], [], t)
    delta = load_elem(kb, ins[2], [], t)
    if is_float(t):
        start, delta = to_f(kb, start, t, B.f64), to_f(kb, delta, t, B.f64)
    with kb.loop(0, n) as i:
        if is_float(t):
            fi = kb.op(arith.SIToFPOp(index_to_i64(kb, i), B.f64))
            v = from_compute(kb, kb.op(arith.AddfOp(start, kb.op(arith.MulfOp(fi, delta)))), t)
        else:
            ii = kb.op(arith.IndexCastOp(i, start.type))
            v = kb.op(arith.AddiOp(start, kb.op(arith.MuliOp(ii, delta))))
        store_elem(kb, v, outs[0], [i], t)


@kernel("shape")
def shape_op(kb: KernelBuilder, ins, outs, op) -> None:
    dims = shape(ins[0])
    start, end = op.attr("start"), op.attr("end")

    for i, d in enumerate(dims[slice(start, end)]):
        kb.store(kb.const(d, B.i64), outs[0], [kb.idx(i)])


@kernel("size")
def size_op(kb: KernelBuilder, ins, outs, op) -> None:
    n = 1
    for d in shape(ins[0]):
        n *= d
    kb.store(kb.const(n, B.i64), outs[0], [])

