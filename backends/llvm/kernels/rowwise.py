"""SIMD row kernels: softmax and layer normalization of f32 rows along the last axis.

Perf kernels (microkernel.PERF_KERNELS): they take over from the plain kernels of
nn.py / norm.py for the common case (f32, normalized axis = the last, contiguous,
one output), vectorize every pass over a row with 16-lane vectors (masked tail)
and run the rows on the thread pool. Other cases keep the plain kernels.

- softmax: max (vector max, then across lanes), exp(x - max) stored in y while
  summing, then y *= 1/sum; exp is the polynomial of `approximate-math`.
- layer norm: mean, then the centered sum of squares (two passes, as the
  reference), then y = (x - mean)·rstd·γ + β.

Sums run in 16 lanes and are then added across lanes (a different order than
the sequential reference: differences of a few ulp).
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, math

from .microkernel import PerfKernel, perf_kernel

LANES = 16


def _rows_f32_last_axis(op, axis_attr: str) -> bool:
    x_t, y_t = op.inputs[0].type, op.outputs[0].type
    shape = list(x_t.get_shape())
    if not shape or not all(isinstance(t.element_type, B.Float32Type) for t in (x_t, y_t)):
        return False
    return op.attr(axis_attr) % len(shape) == len(shape) - 1 and shape[-1] >= LANES


class _RowKernel(PerfKernel):
    def accepts_epilogue(self, op) -> bool:
        return False

    def emit(self, kb, ins, outs, op, packed, epilogue):
        shape = list(ins[0].type.get_shape())
        n = shape[-1]
        rows = 1
        for d in shape[:-1]:
            rows *= d
        vt = kb.vt(B.f32)
        nfull, tail = divmod(n, LANES)
        bufs = list(ins) + list(outs)

        def body(kb, bufs, lo, hi):
            with kb.loop(lo, hi) as r:
                idx = _row_index(kb, r, shape[:-1])

                def each(fn):
                    """fn(j, mask) for the vectors of the row (the tail masked)."""
                    if nfull:
                        with kb.loop(0, nfull) as jv:
                            fn(kb.mul(jv, LANES), None)
                    if tail:
                        fn(kb.idx(nfull * LANES), kb.lane_mask(0, tail, LANES))

                def fold(init, fn):
                    """acc = fn(acc, j, mask) over the vectors of the row."""
                    acc = init
                    if nfull:
                        acc = kb.fold([nfull], [acc], lambda ivs, a: [fn(a[0], kb.mul(ivs[0], LANES), None)])[0]
                    if tail:
                        acc = fn(acc, kb.idx(nfull * LANES), kb.lane_mask(0, tail, LANES))
                    return acc

                self.row(kb, bufs, idx, each, fold, vt, op, n)

        kb.parallel_for(rows, bufs, body, work=12 * rows * n)

    def row(self, kb, bufs, idx, each, fold, vt, op, n):
        raise NotImplementedError


def _row_index(kb, r, outer: list[int]) -> list:
    ivs = []
    for i, d in enumerate(outer):
        inner = 1
        for e in outer[i + 1:]:
            inner *= e
        q = kb.divu(r, inner) if inner > 1 else r
        ivs.append(kb.remu(q, d) if i > 0 else q)
    return ivs


def _load(kb, buf, idx, j, mask, vt, fill=0.0):
    if mask is None:
        return kb.vload(buf, idx + [j], vt)
    return kb.op(_masked(buf, idx + [j], mask, kb.vconst(fill, vt), vt))


def _masked(buf, index, mask, passthru, vt):
    from xdsl.dialects import vector

    return vector.MaskedLoadOp(buf, index, mask, passthru, vt)


def _store(kb, v, buf, idx, j, mask):
    if mask is None:
        kb.vstore(v, buf, idx + [j])
    else:
        kb.vmstore(v, buf, idx + [j], mask)


@perf_kernel("softmax")
class SoftmaxKernel(_RowKernel):
    def applicable(self, op) -> bool:
        return _rows_f32_last_axis(op, "axis")

    def row(self, kb, bufs, idx, each, fold, vt, op, n):
        x, y = bufs[0], bufs[1]
        ninf = kb.vconst(float("-inf"), vt)
        vmax = fold(ninf, lambda acc, j, m: kb.op(arith.MaximumfOp(acc, _load(kb, x, idx, j, m, vt, float("-inf")))))
        mx = kb.bcast(kb.hmax(vmax), vt)

        def exp_sum(acc, j, m):
            e = kb.op(math.ExpOp(kb.op(arith.SubfOp(_load(kb, x, idx, j, m, vt), mx))))
            if m is not None:  # lanes past the row: exp(0 - max) must not count
                e = kb.op(arith.SelectOp(m, e, kb.vconst(0.0, vt)))  # (a cpu.vselect)
            _store(kb, e, y, idx, j, m)
            return kb.addf(acc, e)

        total = kb.hsum(fold(kb.vconst(0.0, vt), exp_sum))
        inv = kb.bcast(kb.op(arith.DivfOp(kb.const(1.0, B.f32), total)), vt)
        each(lambda j, m: _store(kb, kb.mulf(_load(kb, y, idx, j, m, vt), inv), y, idx, j, m))


@perf_kernel("layer_normalization")
class LayerNormKernel(_RowKernel):
    def applicable(self, op) -> bool:
        if len(op.outputs) > 1 or not _rows_f32_last_axis(op, "axis"):
            return False
        n = op.inputs[0].type.get_shape()[-1]
        for v in op.inputs[1:]:
            s = list(v.type.get_shape())
            if not isinstance(v.type.element_type, B.Float32Type) or (s and s != [n] and any(d != 1 for d in s[:-1])):
                return False
        return True

    def row(self, kb, bufs, idx, each, fold, vt, op, n):
        x, gamma = bufs[0], bufs[1]
        beta = bufs[2] if len(op.inputs) > 2 else None
        y = bufs[len(op.inputs)]
        zero = kb.vconst(0.0, vt)
        cnt = kb.const(float(n), B.f32)

        def pidx(buf):  # gamma/beta: [n] or [1, ..., n] (broadcast rows)
            return [kb.idx(0)] * (len(buf.type.get_shape()) - 1)

        s = kb.hsum(fold(zero, lambda acc, j, m: kb.addf(acc, _load(kb, x, idx, j, m, vt))))
        mean = kb.op(arith.DivfOp(s, cnt))
        vmean = kb.bcast(mean, vt)

        def sq(acc, j, m):
            d = kb.op(arith.SubfOp(_load(kb, x, idx, j, m, vt), vmean))
            if m is not None:
                d = kb.op(arith.SelectOp(m, d, zero))
            return kb.fma(d, d, acc)

        var = kb.op(arith.DivfOp(kb.hsum(fold(zero, sq)), cnt))
        eps = kb.const(float(op.attr("epsilon")), B.f32)
        rstd = kb.op(arith.DivfOp(kb.const(1.0, B.f32), kb.op(math.SqrtOp(kb.op(arith.AddfOp(var, eps))))))
        vrstd = kb.bcast(rstd, vt)

        def out(j, m):
            v = kb.mulf(kb.op(arith.SubfOp(_load(kb, x, idx, j, m, vt), vmean)), vrstd)
            v = kb.mulf(v, _load(kb, gamma, pidx(gamma), j, m, vt))
            if beta is not None:
                v = kb.addf(v, _load(kb, beta, pidx(beta), j, m, vt))
            _store(kb, v, y, idx, j, m)

        each(out)
