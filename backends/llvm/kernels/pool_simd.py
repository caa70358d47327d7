"""SIMD 2-D max pooling without padding (f32, NCHW), vectorized along the output row.

A perf kernel (microkernel.PERF_KERNELS) for the common CNN case — windows that
never leave the input (no padding, every window inside), dilation 1, column
stride 1 or 2, one output. 16 outputs of a row at a time: per tap one vector load
(stride 1) or two loads and an even-lane shuffle (stride 2); the row's tail is
masked. The semantics are the reference's (the window's first tap, replaced by
every later tap strictly greater: a leading NaN stays, later NaNs are skipped).
Everything else keeps the plain kernel of nn.py.
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, vector

from .microkernel import PerfKernel, perf_kernel

LANES = 16


def _geo(op):
    x, y = op.inputs[0].type, op.outputs[0].type
    _, _, h, w = x.get_shape()
    _, _, oh, ow = y.get_shape()
    kh, kw = op.attr("kernel_shape")
    sh, sw = op.attr("strides") or [1, 1]
    return h, w, oh, ow, kh, kw, sh, sw


@perf_kernel("max_pool")
class MaxPoolKernel(PerfKernel):
    def applicable(self, op) -> bool:
        x, y = op.inputs[0].type, op.outputs[0].type
        if len(x.get_shape()) != 4 or len(op.outputs) != 1:
            return False
        if not all(isinstance(t.element_type, B.Float32Type) for t in (x, y)):
            return False
        if any(p != 0 for p in (op.attr("pads") or [])) or any(d != 1 for d in (op.attr("dilations") or [])):
            return False
        h, w, oh, ow, kh, kw, sh, sw = _geo(op)
        if sw not in (1, 2) or min(oh, ow) <= 0:
            return False
        return (oh - 1) * sh + kh <= h and (ow - 1) * sw + kw <= w  # every window inside the input

    def accepts_epilogue(self, op) -> bool:
        return False

    def emit(self, kb, ins, outs, op, packed, epilogue):
        h, w, oh, ow, kh, kw, sh, sw = _geo(op)
        n, c = op.inputs[0].type.get_shape()[:2]
        vt = kb.vt(B.f32)
        rows = n * c * oh
        nfull, tail = divmod(ow, LANES)

        def body(kb, bufs, lo, hi):
            x, y = bufs
            with kb.loop(lo, hi) as r:
                o = kb.remu(r, oh)
                nc = kb.divu(r, oh)
                ni, ci = kb.divu(nc, c), kb.remu(nc, c)

                def one(j0, lanes):
                    """outputs [j0, j0 + lanes) of row o."""
                    acc = None
                    for a in range(kh):
                        ih = kb.add(kb.mul(o, sh), a)
                        for b in range(kw):
                            col = kb.add(kb.mul(j0, sw), b)
                            v = _taps(kb, x, [ni, ci, ih], col, sw, lanes, vt)
                            if acc is None:
                                acc = v
                            else:  # strictly greater replaces (NaN never does)
                                gt = kb.op(arith.CmpfOp(v, acc, "ogt"))
                                acc = kb.op(arith.SelectOp(gt, v, acc))
                    idx = [ni, ci, o, j0]
                    if lanes == LANES:
                        kb.vstore(acc, y, idx)
                    else:
                        kb.vmstore(acc, y, idx, kb.lane_mask(0, lanes, LANES))

                if nfull == 1:
                    one(kb.idx(0), LANES)
                elif nfull:
                    with kb.loop(0, nfull) as jv:
                        one(kb.mul(jv, LANES), LANES)
                if tail:
                    one(kb.idx(nfull * LANES), tail)

        kb.parallel_for(rows, list(ins) + list(outs), body, work=rows * ow * kh * kw * 2)


def _taps(kb, x, prefix, col, sw, lanes, vt):
    """x[prefix..., col + sw*l] for lanes l < `lanes` (later lanes unspecified)."""
    if sw == 1:
        if lanes == LANES:
            return kb.vload(x, prefix + [col], vt)
        return kb.vmload(x, prefix + [col], kb.lane_mask(0, lanes, LANES), vt)
    # stride 2: two vectors of 16 consecutive inputs, then their even lanes
    need = 2 * lanes - 1  # inputs col .. col + need - 1 are read
    halves = []
    for k in range(2):
        cnt = min(LANES, max(0, need - k * LANES))
        if cnt == 0:
            halves.append(kb.vconst(0.0, vt))
        else:
            at = prefix + [kb.add(col, k * LANES)]
            halves.append(kb.vload(x, at, vt) if cnt == LANES else
                          kb.vmload(x, at, kb.lane_mask(0, cnt, LANES), vt))
    evens = B.DenseArrayBase.from_list(B.i64, list(range(0, 2 * LANES, 2)))
    return kb.op(vector.ShuffleOp(halves[0], halves[1], evens, result_type=vt))
