"""Softmax, normalizations, convolution and pooling."""

from __future__ import annotations

from xdsl.dialects import arith, math

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel


def _rows(shape, axis):
    """Loop bounds over all axes but `axis`."""
    return [d for i, d in enumerate(shape) if i != axis]


def _with_axis(ivs, axis, iv):
    return list(ivs[:axis]) + [iv] + list(ivs[axis:])


def _fold(kb, n, init, body):
    """acc = init; for t in range(n): acc = body(t, acc); return acc."""
    return kb.fold([n], [init], lambda ivs, accs: [body(ivs[0], accs[0])])[0]


@kernel("softmax", "log_softmax")
def softmax(kb: KernelBuilder, ins, outs, op) -> None:
    shape = list(ins[0].type.get_shape())
    axis = op.attr("axis") % len(shape)
    elem = outs[0].type.element_type
    x, y = ins[0], outs[0]
    n = shape[axis]
    with kb.loops(_rows(shape, axis)) as ivs:
        at = lambda t: _with_axis(ivs, axis, t)  # noqa: E731
        mx = _fold(kb, n, kb.const(float("-inf"), elem), lambda t, acc: kb.op(arith.MaximumfOp(acc, kb.load(x, at(t)))))
        def exp_sum(t, acc):
            e = kb.op(math.ExpOp(kb.op(arith.SubfOp(kb.load(x, at(t)), mx))))
            if op.name == "tg.softmax":
                kb.store(e, y, at(t))
            return kb.op(arith.AddfOp(acc, e))
        total = _fold(kb, n, kb.const(0.0, elem), exp_sum)
        if op.name == "tg.softmax":
            inv = kb.op(arith.DivfOp(kb.const(1.0, elem), total))
            with kb.loop(0, n) as t:
                kb.store(kb.op(arith.MulfOp(kb.load(y, at(t)), inv)), y, at(t))
        else:
            lse = kb.op(arith.AddfOp(kb.op(math.LogOp(total)), mx))
            with kb.loop(0, n) as t:
                kb.store(kb.op(arith.SubfOp(kb.load(x, at(t)), lse)), y, at(t))


@kernel("layer_normalization")
def layer_norm(kb: KernelBuilder, ins, outs, op) -> None:
    shape = list(ins[0].type.get_shape())
    axis = op.attr("axis") % len(shape)
    if len(outs) > 1:
        raise UnsupportedKernel(f"{op.where()}: mean/inv-std outputs")
    elem = outs[0].type.element_type
    inner = shape[axis:]
    count = 1
    for d in inner:
        count *= d
    x, y = ins[0], outs[0]
    eps = op.attr("epsilon")
    with kb.loops(shape[:axis]) as outer:
        def over_inner(init, fn):
            return kb.fold(inner, [init], lambda ivs, accs: [fn(list(outer) + ivs, accs[0], ivs)])[0]
        zero = kb.const(0.0, elem)
        s = over_inner(zero, lambda idx, acc, _: kb.op(arith.AddfOp(acc, kb.load(x, idx))))
        mean = kb.op(arith.DivfOp(s, kb.const(float(count), elem)))
        def sq(idx, acc, _):
            dlt = kb.op(arith.SubfOp(kb.load(x, idx), mean))
            return kb.op(arith.AddfOp(acc, kb.op(arith.MulfOp(dlt, dlt))))
        var = kb.op(arith.DivfOp(over_inner(zero, sq), kb.const(float(count), elem)))
        rstd = kb.op(arith.DivfOp(kb.const(1.0, elem), kb.op(math.SqrtOp(kb.op(arith.AddfOp(var, kb.const(eps, elem)))))))
        with kb.loops(inner) as ivs:
            idx = list(outer) + list(ivs)
            v = kb.op(arith.MulfOp(kb.op(arith.SubfOp(kb.load(x, idx), mean)), rstd))
            v = kb.op(arith.MulfOp(v, kb.load(ins[1], _bcast(kb, ins[1], idx))))
            if len(ins) > 2:
                v = kb.op(arith.AddfOp(v, kb.load(ins[2], _bcast(kb, ins[2], idx))))
            kb.store(v, y, idx)


def _bcast(kb, buf, idx):
    from .elementwise import broadcast_index

    return broadcast_index(kb, list(buf.type.get_shape()), idx)


@kernel("batch_normalization")
def batch_norm(kb: KernelBuilder, ins, outs, op) -> None:
    x, scale, bias, mean, var = ins
    shape = list(x.type.get_shape())
    elem = outs[0].type.element_type
    eps = kb.const(op.attr("epsilon"), elem)
    with kb.loops(shape) as ivs:
        c = [ivs[1]] if len(shape) > 1 else [kb.idx(0)]
        rstd = kb.op(math.RsqrtOp(kb.op(arith.AddfOp(kb.load(var, c), eps))))
        v = kb.op(arith.MulfOp(kb.op(arith.SubfOp(kb.load(x, ivs), kb.load(mean, c))), rstd))
        v = kb.op(arith.AddfOp(kb.op(arith.MulfOp(v, kb.load(scale, c))), kb.load(bias, c)))
        kb.store(v, outs[0], ivs)


def _in_bounds_load(kb, buf, idx_parts, shape, zero):
    """Load buf[idx] where spatial indices may fall in the padding (then `zero`)."""
    valid = None
    clamped = []
    for iv, (d, check) in zip(idx_parts, shape):
        if check:
            ok = kb.op(arith.AndIOp(kb.op(arith.CmpiOp(iv, kb.idx(0), "sge")), kb.op(arith.CmpiOp(iv, kb.idx(d), "slt"))))
            valid = ok if valid is None else kb.op(arith.AndIOp(valid, ok))
            lo = kb.op(arith.MaxSIOp(iv, kb.idx(0)))
            clamped.append(kb.op(arith.MinSIOp(lo, kb.idx(d - 1))))
        else:
            clamped.append(iv)
    v = kb.load(buf, clamped)
    return v if valid is None else kb.op(arith.SelectOp(valid, v, zero))


def _window_index(kb, o_iv, k_iv, stride, dil, pad):
    return kb.op(arith.SubiOp(kb.add(kb.mul(o_iv, stride), kb.mul(k_iv, dil)), kb.idx(pad)))


@kernel("max_pool", "average_pool")
def pool(kb: KernelBuilder, ins, outs, op) -> None:
    if len(outs) > 1:
        raise UnsupportedKernel(f"{op.where()}: max_pool indices output")
    x = ins[0]
    xs, ys = list(x.type.get_shape()), list(outs[0].type.get_shape())
    r = len(xs) - 2
    elem = outs[0].type.element_type
    k = op.attr("kernel_shape")
    strides = op.attr("strides") or [1] * r
    dil = op.attr("dilations") or [1] * r
    pads = op.attr("pads") or [0] * (2 * r)
    is_max = op.name == "tg.max_pool"
    count_pad = (not is_max) and op.attr("count_include_pad")
    with kb.loops(ys) as ivs:
        init = [kb.const(float("-inf") if is_max else 0.0, elem), kb.const(0.0, elem)]

        def body(kivs, accs):
            sp = [_window_index(kb, ivs[2 + i], kivs[i], strides[i], dil[i], pads[i]) for i in range(r)]
            valid = None
            clamped = []
            for i in range(r):
                ok = kb.op(arith.AndIOp(kb.op(arith.CmpiOp(sp[i], kb.idx(0), "sge")), kb.op(arith.CmpiOp(sp[i], kb.idx(xs[2 + i]), "slt"))))
                valid = ok if valid is None else kb.op(arith.AndIOp(valid, ok))
                clamped.append(kb.op(arith.MinSIOp(kb.op(arith.MaxSIOp(sp[i], kb.idx(0))), kb.idx(xs[2 + i] - 1))))
            v = kb.load(x, ivs[:2] + clamped)
            acc, cnt = accs
            if is_max:
                return [kb.op(arith.SelectOp(valid, kb.op(arith.MaximumfOp(acc, v)), acc)), cnt]
            one = kb.const(1.0, elem)
            inc = kb.op(arith.AddfOp(cnt, one))
            return [kb.op(arith.SelectOp(valid, kb.op(arith.AddfOp(acc, v)), acc)),
                    inc if count_pad else kb.op(arith.SelectOp(valid, inc, cnt))]

        new = kb.fold(k, init, body)
        res = new[0] if is_max else kb.op(arith.DivfOp(new[0], new[1]))
        kb.store(res, outs[0], ivs)


@kernel("global_average_pool", "global_max_pool")
def global_pool(kb: KernelBuilder, ins, outs, op) -> None:
    xs = list(ins[0].type.get_shape())
    elem = outs[0].type.element_type
    is_max = op.name == "tg.global_max_pool"
    spatial = xs[2:]
    count = 1
    for d in spatial:
        count *= d
    with kb.loops(xs[:2]) as (n, c):
        def body(sivs, accs):
            v = kb.load(ins[0], [n, c] + sivs)
            return [kb.op(arith.MaximumfOp(accs[0], v) if is_max else arith.AddfOp(accs[0], v))]

        (new,) = kb.fold(spatial, [kb.const(float("-inf") if is_max else 0.0, elem)], body)
        res = new if is_max else kb.op(arith.DivfOp(new, kb.const(float(count), elem)))
        kb.store(res, outs[0], [n, c] + [kb.idx(0)] * len(spatial))
