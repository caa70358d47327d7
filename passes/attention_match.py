"""Attention recognition: find Q·Kᵀ per head in a tg graph, by structure (never by names).

A *site* is an op computing attention logits from two projections:

    Y_q = x_q @ W_q (+ b_q)        Y_k = x_k @ W_k (+ b_k)      (tg.matmul/tg.gemm, static W, b)
      │ head split, RoPE, scaling, GQA repeat ...                 (data movement + static tables)
    scores = matmul(Q [..., S, D], Kᵀ [..., D, T])           or  tg.attention(Q, K, V) with 4-D Q, K

How: every element of Y gets a label (its flat index + 1). Labels are pushed
through the ops between Y and the scores op with the ops' own reference kernels
(reshape, transpose, slice, concat, expand, ...), negated by `neg`, carried
through multiplication by static tables (RoPE cos/sin, scales) and, at an `add`
of two labelled tensors (RoPE's `x·cos + rotate_half(x)·sin`), they record which
channel pairs the rotation mixes. At the scores op the labels say, for every
head and every contracted position d, which column of W_q and of W_k feeds it —
whatever reshapes/transposes/splits the frontend produced. Heads are the
distinct column sets; grouped-query attention shows up as several query heads
contracting with the same K columns.

The analysis only reads the IR. `rewrite_projection`/`rewrite_tables` (used by
bfp-rearrange) apply a channel permutation; `slice_scores` evaluates Q·Kᵀ of a
site from given projection inputs (the check that a rewrite left it unchanged);
`capture` runs a function and keeps chosen intermediate values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.dialects import func
from xdsl.ir import Operation, SSAValue

from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp

#: ops whose result labels are their (single dynamic) operand's labels moved around
LAYOUT_OPS = {"reshape", "transpose", "squeeze", "unsqueeze", "flatten", "expand", "tile", "identity", "slice",
              "split", "gather"}
ELEMENTWISE = {"add", "sub", "mul", "div"}


class NotAttention(Exception):
    """The value is not built from a projection in a way the analysis understands."""


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class Projection:
    """Y = x @ W (+ b): the columns of Y are output channels."""

    value: SSAValue  # Y (after the bias, if any)
    matmul: Operation  # tg.matmul or tg.gemm
    weight_operand: int  # operand index of W in `matmul`
    weight_axis: int  # axis of W along the output channels
    bias_op: Operation | None  # the op holding the bias (tg.add, or the gemm itself)
    bias_operand: int | None
    x: SSAValue  # the projection's input activation
    n: int  # number of columns

    @property
    def name(self) -> str:
        src = self.matmul.attributes.get("src")
        return src.data if isinstance(src, B.StringAttr) else self.matmul.name


@dataclass(eq=False)
class Table:
    """A static operand multiplied (or added) elementwise into a labelled path: it must follow a permutation."""

    op: Operation
    operand: int  # the static operand's index
    labels: np.ndarray  # labels of the dynamic operand, broadcast to the result shape
    proj: Projection


@dataclass(eq=False)
class Rotation:
    """Where a rotary embedding computes rot(x) (rotate-half or similar) from x: `user` (the table
    multiplication) reads rot(x) as operand `operand`; `src` is x. None fields: not rewritable."""

    user: Operation
    operand: int
    src: SSAValue
    src_labels: np.ndarray


@dataclass(eq=False)
class Labels:
    proj: Projection
    labels: np.ndarray  # int64, shape of the value; +-(flat index into Y + 1)
    tables: list[Table] = field(default_factory=list)
    pairs: dict[int, tuple[int, bool]] = field(default_factory=dict)  # column -> (partner column, first role)
    rotations: list = field(default_factory=list)  # Rotation, or None for a rotation we cannot rewrite


@dataclass(eq=False)
class Rope:
    """Channel pairs a rotary embedding mixes, as positions within a head."""

    partner: np.ndarray  # [D]: position paired with d
    first: np.ndarray  # [D] bool: d plays the "first" role (receives -x[partner])

    def pair_list(self) -> list[tuple[int, int]]:
        return [(int(d), int(self.partner[d])) for d in range(len(self.partner)) if self.first[d]]


@dataclass(eq=False)
class Site:
    """One attention: Q·Kᵀ per head, with everything needed to permute its channels."""

    index: int  # order in the function (the layer)
    op: Operation  # tg.matmul (scores) or tg.attention
    q: Labels
    k: Labels
    head_dim: int
    q_cols: np.ndarray  # [Hq, D] column of Y_q feeding query head h at position d
    k_cols: np.ndarray  # [Hkv, D]
    kv_of_q: np.ndarray  # [Hq] the KV head each query head contracts with
    rope: Rope | None
    k_operand: int  # operand of `op` holding K (for quantization)
    k_axis: int  # channel axis of that operand
    v_op: Operation | None = None  # op consuming V (matmul probs@V, or the attention op)
    v_operand: int | None = None
    v_axis: int | None = None
    lead_shape: tuple = ()  # broadcast batch dims of the scores (e.g. [B, H])
    q_head_of_lead: np.ndarray | None = None  # [prod(lead_shape)] query head of each batch index
    k_head_of_lead: np.ndarray | None = None  # [prod(lead_shape)] KV head of each batch index

    @property
    def name(self) -> str:
        src = self.op.attributes.get("src")
        return src.data if isinstance(src, B.StringAttr) else f"{self.op.name}#{self.index}"

    @property
    def num_q_heads(self) -> int:
        return len(self.q_cols)

    @property
    def num_kv_heads(self) -> int:
        return len(self.k_cols)

    @property
    def k_value(self) -> SSAValue:
        return self.op.operands[self.k_operand]

    @property
    def q_value(self) -> SSAValue:
        return self.op.operands[0]

    def describe(self) -> str:
        gqa = f", {self.num_q_heads // self.num_kv_heads} query heads per KV head" if self.num_q_heads != self.num_kv_heads else ""
        rope = f", RoPE pairs {self.rope.pair_list()[0]}.." if self.rope is not None else ""
        return (f"site {self.index} '{self.name}': {self.num_q_heads} heads x {self.head_dim}{gqa}{rope}; "
                f"Q from '{self.q.proj.name}', K from '{self.k.proj.name}'")


# ---------------------------------------------------------------------------
# static values
# ---------------------------------------------------------------------------
class Statics:
    """Which values are compile-time constants, and (lazily) their arrays."""

    def __init__(self, store=None):
        self.store = store
        self._static: dict[SSAValue, bool] = {}
        self._value: dict[SSAValue, np.ndarray | None] = {}

    def is_static(self, v: SSAValue) -> bool:
        if v in self._static:
            return self._static[v]
        op = v.owner
        if isinstance(op, (WeightOp, ConstantOp)):
            res = True
        elif isinstance(op, TGOp) and not op.name.startswith("bfp."):
            res = all(self.is_static(o) for o in op.operands)
        else:
            res = False
        self._static[v] = res
        return res

    def value(self, v: SSAValue) -> np.ndarray | None:
        """The array of a static value (None when it needs a weight the store does not have)."""
        if v in self._value:
            return self._value[v]
        from tensorc.passes.folding import known_value

        op = v.owner
        res: np.ndarray | None
        if isinstance(op, (WeightOp, ConstantOp)):
            res = known_value(v, self.store)
        else:
            from tensorc.backends.reference import evaluate_op

            ins = [self.value(o) for o in op.operands]
            if any(i is None for i in ins):
                res = None
            else:
                res = evaluate_op(op, ins)[list(op.results).index(v)]
        self._value[v] = res
        return res


def _short(op: Operation) -> str:
    return op.name.removeprefix("tg.")


def _scalar(v: SSAValue) -> bool:
    return int(np.prod(dtypes.shape_of(v.type))) <= 1


# ---------------------------------------------------------------------------
# projections
# ---------------------------------------------------------------------------
def match_projection(v: SSAValue, st: Statics) -> Projection | None:
    """`v` as x @ W (+ b) with static W (2-D) and b (broadcast along the last axis only)."""
    op = v.owner
    if not isinstance(op, TGOp):
        return None
    name = _short(op)
    if name == "add":
        for bi in (0, 1):
            b, m = op.operands[bi], op.operands[1 - bi]
            if st.is_static(b) and not st.is_static(m) and len(list(m.uses)) == 1:
                inner = _match_linear(m, st)
                if inner is not None and _is_bias(b, inner.n):
                    inner.value, inner.bias_op, inner.bias_operand = v, op, bi
                    return inner
        return None
    return _match_linear(v, st)


def _is_bias(b: SSAValue, n: int) -> bool:
    shape = dtypes.shape_of(b.type)
    return bool(shape) and shape[-1] == n and all(d == 1 for d in shape[:-1])


def _match_linear(v: SSAValue, st: Statics) -> Projection | None:
    op = v.owner
    if not isinstance(op, TGOp):
        return None
    name = _short(op)
    if name == "matmul":
        x, w = op.operands
        if st.is_static(w) and not st.is_static(x) and len(dtypes.shape_of(w.type)) == 2:
            n = dtypes.shape_of(w.type)[1]
            return Projection(v, op, 1, 1, None, None, x, n)
    if name == "gemm" and not op.attr("transA"):
        x, w = op.operands[0], op.operands[1]
        if st.is_static(w) and not st.is_static(x):
            axis = 0 if op.attr("transB") else 1
            n = dtypes.shape_of(w.type)[axis]
            bias = None
            if len(op.operands) > 2 and st.is_static(op.operands[2]) and _is_bias(op.operands[2], n):
                bias = 2
            elif len(op.operands) > 2:
                return None
            return Projection(v, op, 1, axis, op if bias is not None else None, bias, x, n)
    return None


# ---------------------------------------------------------------------------
# what feeds a projection: a normalization with a static affine (bfp-rearrange{score=static})
# ---------------------------------------------------------------------------
#: ops that move data without touching the channel axis when it stays last
_KEEP_LAST = {"reshape", "flatten", "squeeze", "unsqueeze", "identity"}
_NORM_OPS = {"layer_normalization", "rms_normalization"}


@dataclass(eq=False)
class InputNorm:
    """The projection's input is n·gamma + beta along its contracted (channel) axis, where n is
    normalized over that axis (mean square 1 per row): LayerNorm or RMSNorm, as one op or written out."""

    op: Operation  # the normalization op, or the op dividing/multiplying by the per-row scale
    kind: str  # "layer_normalization", "rms_normalization" or "decomposed"
    gamma: np.ndarray  # [C] float64: every static per-channel scale after the norm, multiplied
    beta: np.ndarray  # [C] float64: every static per-channel shift after the norm (zeros if none)

    def describe(self) -> str:
        src = self.op.attributes.get("src")
        return f"{self.kind} '{src.data}'" if isinstance(src, B.StringAttr) else self.kind


def _channel_vector(v: SSAValue, st: Statics, shape: tuple, axis: int) -> np.ndarray | None:
    """A static operand that broadcasts against a tensor of `shape` and varies only along `axis`
    (or is a scalar): its values along that axis, float64 [shape[axis]]; else None."""
    vs = dtypes.shape_of(v.type)
    if len(vs) > len(shape):
        return None
    off = len(shape) - len(vs)
    if any(d != 1 and i + off != axis for i, d in enumerate(vs)):
        return None
    val = st.value(v)
    if val is None:
        return None
    return np.broadcast_to(np.asarray(val, np.float64).reshape(-1), (shape[axis],)).copy()


def _ancestors(v: SSAValue, st: Statics, depth: int) -> set:
    """Dynamic values `v` is computed from, up to `depth` ops back (v included)."""
    seen, frontier = {v}, [v]
    for _ in range(depth):
        nxt = []
        for x in frontier:
            op = x.owner
            if isinstance(op, Operation):
                for o in op.operands:
                    if o not in seen and not st.is_static(o):
                        seen.add(o)
                        nxt.append(o)
        frontier = nxt
    return seen


def _is_row_normalization(op: Operation, st: Statics, axis: int) -> bool:
    """`a · r` or `a / r` with r one value per row (size 1 along `axis`) computed from a mean over
    `axis` of something computed from a: the written-out LayerNorm/RMSNorm (x·rsqrt(mean(x²)+eps),
    (x-μ)/sqrt(mean((x-μ)²)+eps))."""
    name = _short(op)
    if name not in ("mul", "div") or any(st.is_static(o) for o in op.operands):
        return False
    out = dtypes.shape_of(op.results[0].type)
    cands = [(0, 1), (1, 0)] if name == "mul" else [(0, 1)]
    for ai, ri in cands:
        a, r = op.operands[ai], op.operands[ri]
        rs = dtypes.shape_of(r.type)
        if dtypes.shape_of(a.type) != out or len(rs) != len(out) or rs[axis] != 1:
            continue
        for x in _ancestors(r, st, 6):
            red = x.owner
            if not (isinstance(red, TGOp) and _short(red) == "reduce_mean"):
                continue
            rank = len(dtypes.shape_of(red.operands[0].type))
            if sorted(a_ % rank for a_ in red.attr("axes")) != [axis]:
                continue
            if a in _ancestors(red.operands[0], st, 3):
                return True
    return False


def input_norm(proj: Projection, st: Statics) -> InputNorm | None:
    """The normalization the projection's input comes from, with the static affine applied after it.

    Walks back from x (the channel axis is x's last, the one the projection contracts) through
    reshapes that keep that axis, transposes (the axis is followed), and elementwise scales/shifts
    by static per-channel vectors (accumulated into gamma, beta), to a tg.layer_normalization /
    tg.rms_normalization over exactly that axis, or its written-out form. None when there is none.
    """
    v = proj.x
    shape = dtypes.shape_of(v.type)
    if not shape:
        return None
    axis = len(shape) - 1
    C = shape[axis]
    gamma, beta = np.ones(C), np.zeros(C)  # x = gamma·u + beta, u the value reached so far
    for _ in range(64):
        op = v.owner
        if not isinstance(op, TGOp):
            return None
        name = _short(op)
        shape = dtypes.shape_of(v.type)
        if name in _KEEP_LAST:
            src_shape = dtypes.shape_of(op.operands[0].type)
            if axis != len(shape) - 1 or not src_shape or src_shape[-1] != shape[-1]:
                return None
            v, axis = op.operands[0], len(src_shape) - 1
            continue
        if name == "transpose":
            perm = op.attr("perm") or list(reversed(range(len(shape))))
            v, axis = op.operands[0], int(perm[axis])
            continue
        if name in _NORM_OPS:
            rank = len(shape)
            if op.results[0] is not v or axis != rank - 1 or op.attr("axis") % rank != rank - 1:
                return None
            scale = _channel_vector(op.operands[1], st, shape, axis)
            bias = _channel_vector(op.operands[2], st, shape, axis) if len(op.operands) > 2 else np.zeros(C)
            if scale is None or bias is None:
                return None
            return InputNorm(op, name, gamma * scale, beta + gamma * bias)
        if name in ("mul", "add", "sub", "div"):
            dyn = [i for i, o in enumerate(op.operands) if not st.is_static(o)]
            if len(dyn) == 2 and name in ("mul", "div"):
                return InputNorm(op, "decomposed", gamma, beta) if _is_row_normalization(op, st, axis) else None
            if len(dyn) != 1:
                return None
            di = dyn[0]
            c = _channel_vector(op.operands[1 - di], st, shape, axis)
            if c is None:
                return None
            if name == "mul":
                gamma = gamma * c
            elif name == "add":
                beta = beta + gamma * c
            elif name == "sub":
                if di == 0:
                    beta = beta - gamma * c
                else:  # c - u
                    beta, gamma = beta + gamma * c, -gamma
            else:
                if di != 0:
                    return None
                gamma = gamma / c
            v = op.operands[di]
            continue
        return None
    return None


# ---------------------------------------------------------------------------
# label propagation
# ---------------------------------------------------------------------------
class Tracer:
    def __init__(self, st: Statics):
        self.st = st
        self.memo: dict[SSAValue, Labels | None] = {}

    def labels(self, v: SSAValue) -> Labels:
        if v in self.memo:
            res = self.memo[v]
            if res is None:
                raise NotAttention(f"{v.name_hint or v}: not traced to a projection")
            return res
        self.memo[v] = None  # cycle guard
        try:
            res = self._labels(v)
        except NotAttention:
            raise
        self.memo[v] = res
        return res

    def _labels(self, v: SSAValue) -> Labels:
        st = self.st
        if st.is_static(v):
            raise NotAttention("static value")
        op = v.owner
        if (isinstance(op, TGOp) and _short(op) == "matmul" and not st.is_static(op.operands[0])
                and st.is_static(op.operands[1])):
            # x @ M with M a static signed permutation (a rotation rewritten by bfp-rearrange): labels
            # move; if x does not trace to a projection, this matmul is itself one (below)
            try:
                moved = self._signed_permutation(op)
            except NotAttention:
                moved = None
            if moved is not None:
                return moved
        proj = match_projection(v, st)
        if proj is not None:
            shape = dtypes.shape_of(v.type)
            lab = np.arange(1, int(np.prod(shape)) + 1, dtype=np.int64).reshape(shape)
            return Labels(proj, lab)
        op = v.owner
        if not isinstance(op, Operation):
            raise NotAttention("function argument")
        name = op.name.removeprefix("tg.")
        out_shape = dtypes.shape_of(v.type)
        if op.name == "bfp.dequantize":  # look through fake quantization: labels are about positions
            q = op.operands[0].owner
            if q is not None and q.name == "bfp.quantize":
                return self.labels(q.operands[0])
            raise NotAttention("bfp.dequantize without bfp.quantize")
        if not isinstance(op, TGOp):
            raise NotAttention(f"{op.name}")
        dyn = [i for i, o in enumerate(op.operands) if not st.is_static(o)]
        if name in LAYOUT_OPS:
            if dyn != [0]:
                raise NotAttention(f"{op.name} with dynamic operands {dyn}")
            src = self.labels(op.operands[0])
            from tensorc.backends.reference.kernels import KERNELS

            ins = [src.labels] + [st.value(o) for o in op.operands[1:]]
            if any(i is None for i in ins):
                raise NotAttention(f"{op.name}: static operand unknown")
            outs = [(dtypes.shape_of(r.type), np.dtype(np.int64)) for r in op.results]
            attrs = op.attr_values()
            attrs.pop("operand_slots", None)
            res = KERNELS[name](ins, attrs, outs)[list(op.results).index(v)]
            return Labels(src.proj, np.asarray(res, np.int64), list(src.tables), dict(src.pairs), list(src.rotations))
        if name == "neg":
            src = self.labels(op.operands[0])
            return Labels(src.proj, -src.labels, list(src.tables), dict(src.pairs), list(src.rotations))
        if name == "concat":
            if len(dyn) != len(op.operands):
                raise NotAttention("concat with static operands")
            parts = [self.labels(o) for o in op.operands]
            if any(p.proj is not parts[0].proj for p in parts):
                raise NotAttention("concat of different projections")
            lab = np.concatenate([p.labels for p in parts], axis=op.attr("axis"))
            return self._merge(parts[0].proj, lab, parts)
        if name in ELEMENTWISE:
            if len(dyn) == 1:
                di = dyn[0]
                src = self.labels(op.operands[di])
                lab = np.ascontiguousarray(np.broadcast_to(src.labels, out_shape))
                if name in ("sub", "div") and di == 1:
                    raise NotAttention(f"{op.name} of a constant by the projection")
                if name == "sub":
                    lab = lab  # x - c: labels unchanged
                tables = list(src.tables)
                if not _scalar(op.operands[1 - di]):
                    tables.append(Table(op, 1 - di, lab, src.proj))
                return Labels(src.proj, lab, tables, dict(src.pairs), list(src.rotations))
            if len(dyn) == 2 and name in ("add", "sub"):
                a, b = (self.labels(o) for o in op.operands)
                if a.proj is not b.proj:
                    raise NotAttention("add of two projections")
                la = np.broadcast_to(a.labels, out_shape)
                lb = np.broadcast_to(b.labels, out_shape)
                if name == "sub":
                    lb = -lb
                return self._rotation(op, a, b, la, lb)
            raise NotAttention(f"{op.name} with {len(dyn)} dynamic operands")
        raise NotAttention(f"{op.name} is not understood")

    def _signed_permutation(self, op: Operation) -> Labels | None:
        """Labels through x @ M where every column of M holds exactly one +-1 (else None)."""
        M = self.st.value(op.operands[1])
        if M is None or M.ndim < 2 or dtypes.shape_of(op.operands[0].type)[-1:] != M.shape[-2:-1]:
            return None
        nz = M != 0
        if not (np.isin(M, (-1.0, 0.0, 1.0)).all() and (nz.sum(axis=-2) == 1).all()):
            return None
        src = self.labels(op.operands[0])
        idx = np.argmax(nz, axis=-2)  # [*lead_m, D]: source position of every output position
        sign = np.take_along_axis(M, idx[..., None, :], axis=-2)[..., 0, :].astype(np.int64)
        out_shape = dtypes.shape_of(op.results[0].type)
        lead = out_shape[:-2]
        x = np.broadcast_to(src.labels, lead + src.labels.shape[-2:])
        j = np.broadcast_to(idx[..., None, :], lead + (1, idx.shape[-1]))
        j = np.broadcast_to(j, lead + (x.shape[-2], idx.shape[-1]))
        lab = np.take_along_axis(x, j, axis=-1) * np.broadcast_to(sign[..., None, :], j.shape)
        return Labels(src.proj, np.ascontiguousarray(lab), list(src.tables), dict(src.pairs), list(src.rotations))

    @staticmethod
    def _merge(proj: Projection, lab: np.ndarray, parts: Iterable[Labels]) -> Labels:
        tables, pairs, rots, seen = [], {}, [], set()
        for p in parts:
            for t in p.tables:
                if id(t) not in seen:
                    seen.add(id(t))
                    tables.append(t)
            for r in p.rotations:
                if r is None or id(r) not in seen:
                    seen.add(id(r))
                    rots.append(r)
            pairs.update(p.pairs)
        return Labels(proj, np.asarray(lab, np.int64), tables, pairs, rots)

    def _rotated_input(self, op: Operation, i: int):
        """The labelled value under operand i of the rotation's add: (user, operand, value) where `user`
        multiplies it by a static table, else (op, i, operand itself)."""
        v = op.operands[i]
        u = v.owner
        if isinstance(u, TGOp) and _short(u) in ("mul", "div"):
            dyn = [j for j, o in enumerate(u.operands) if not self.st.is_static(o)]
            if len(dyn) == 1 and (_short(u) == "mul" or dyn[0] == 0):
                return u, dyn[0], u.operands[dyn[0]]
        return op, i, v

    def _rotation(self, op: Operation, a: Labels, b: Labels, la: np.ndarray, lb: np.ndarray) -> Labels:
        """x·cos + rot(x)·sin: same positions, different (partner) labels. Keep the unrotated labels."""
        proj = a.proj
        if np.array_equal(np.abs(la), np.abs(lb)):
            return self._merge(proj, la, [a, b])
        # the primary side is the one without negated labels (rot(x) carries -x[partner])
        ia, ib = 0, 1
        if np.any(la < 0) and not np.any(lb < 0):
            la, lb, ia, ib = lb, la, 1, 0
        n = proj.n
        ca = (np.abs(la) - 1) % n
        cb = (np.abs(lb) - 1) % n
        ra = (np.abs(la) - 1) // n
        rb = (np.abs(lb) - 1) // n
        if not np.array_equal(ra, rb):
            raise NotAttention("rotation mixes tokens")
        partner: dict[int, int] = {}
        first: dict[int, bool] = {}
        for x, y, neg in zip(ca.reshape(-1).tolist(), cb.reshape(-1).tolist(), (lb < 0).reshape(-1).tolist()):
            if partner.setdefault(x, y) != y:
                raise NotAttention("rotation is not a pairing of channels")
            first[x] = neg
        for x, y in partner.items():
            if partner.get(y, x) != x or x == y:
                raise NotAttention("rotation is not a pairing of channels")
        res = self._merge(proj, la, [a, b])
        res.pairs.update({c: (partner[c], first[c]) for c in partner})
        # where rot(x) is formed, for rewriting it as a per-head signed permutation
        rot = None
        _, _, xv = self._rotated_input(op, ia)
        user, k, rv = self._rotated_input(op, ib)
        try:
            xl, rl = self.labels(xv), self.labels(rv)
        except NotAttention:
            xl = rl = None
        if (xl is not None and rl is not None and xl.labels.shape == rl.labels.shape
                and np.array_equal(np.sort(np.abs(xl.labels), -1), np.sort(np.abs(rl.labels), -1))
                and not np.any(xl.labels < 0)):
            rot = Rotation(user, k, xv, xl.labels)
        res.rotations.append(rot)
        return res


# ---------------------------------------------------------------------------
# sites
# ---------------------------------------------------------------------------
def _decode(lab: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.abs(lab) - 1
    return idx // n, idx % n


def _heads(qrow: np.ndarray, krow: np.ndarray):
    """Distinct query heads, KV heads and the pairing from per-(lead index) column rows [L, D].

    Returns q_cols [Hq, D], k_cols [Hkv, D], kv_of_q [Hq], and the head of every lead index
    on each side ([L] each), heads ordered by their first column (the model's head order).
    """
    q_cols, q_inv = np.unique(qrow, axis=0, return_inverse=True)
    k_cols, k_inv = np.unique(krow, axis=0, return_inverse=True)
    q_inv, k_inv = q_inv.reshape(-1), k_inv.reshape(-1)
    kv_of_q = np.full(len(q_cols), -1)
    for qi, ki in zip(q_inv.tolist(), k_inv.tolist()):
        if kv_of_q[qi] not in (-1, ki):
            raise NotAttention("a query head meets two different K heads")
        kv_of_q[qi] = ki
    qo = np.argsort(q_cols.min(axis=1), kind="stable")
    ko = np.argsort(k_cols.min(axis=1), kind="stable")
    qpos = np.empty_like(qo)
    qpos[qo] = np.arange(len(qo))
    kpos = np.empty_like(ko)
    kpos[ko] = np.arange(len(ko))
    return q_cols[qo], k_cols[ko], kpos[kv_of_q[qo]], qpos[q_inv], kpos[k_inv]


def _site_from_labels(index, op, ql: Labels, kl: Labels, q_sd: np.ndarray, k_dt: np.ndarray,
                      k_operand: int, k_axis: int) -> Site:
    """q_sd: Q labels [..., S, D]; k_dt: K labels [..., D, T] (broadcastable leading dims)."""
    lead = np.broadcast_shapes(q_sd.shape[:-2], k_dt.shape[:-2])
    q_sd = np.broadcast_to(q_sd, lead + q_sd.shape[-2:])
    k_dt = np.broadcast_to(k_dt, lead + k_dt.shape[-2:])
    D = q_sd.shape[-1]
    qr, qc = _decode(q_sd, ql.proj.n)
    kr, kc = _decode(k_dt, kl.proj.n)
    if not (qc == qc[..., :1, :]).all() or not (qr == qr[..., :, :1]).all():
        raise NotAttention("Q rows are not (token, channel) vectors")
    if not (kc == kc[..., :, :1]).all() or not (kr == kr[..., :1, :]).all():
        raise NotAttention("K columns are not (channel, token) vectors")
    qrow = qc[..., 0, :].reshape(-1, D)
    krow = kc[..., :, 0].reshape(-1, D)
    q_cols, k_cols, kv_of_q, q_lead, k_lead = _heads(qrow, krow)
    for cols in (q_cols, k_cols):
        if any(len(set(r.tolist())) != D for r in cols):
            raise NotAttention("a head uses a channel twice")
    if len(np.unique(q_cols)) != q_cols.size or len(np.unique(k_cols)) != k_cols.size:
        raise NotAttention("heads overlap")
    rope = _rope(ql, q_cols, kl, k_cols)
    site = Site(index, op, ql, kl, D, q_cols, k_cols, kv_of_q, rope, k_operand, k_axis)
    site.lead_shape, site.q_head_of_lead, site.k_head_of_lead = tuple(lead), q_lead, k_lead
    return site


def _rope(ql: Labels, q_cols, kl: Labels, k_cols) -> Rope | None:
    """The pair structure in head positions; Q's and K's (when both rotate) must agree."""
    found = []
    for lab, cols in ((ql, q_cols), (kl, k_cols)):
        if not lab.pairs:
            continue
        D = cols.shape[1]
        for row in cols:
            pos = {int(c): d for d, c in enumerate(row.tolist())}
            partner = np.empty(D, np.int64)
            first = np.zeros(D, bool)
            for d, c in enumerate(row.tolist()):
                if c not in lab.pairs:
                    raise NotAttention("a rotated head has an unpaired channel")
                p, f = lab.pairs[c]
                if p not in pos:
                    raise NotAttention("RoPE pairs channels of different heads")
                partner[d], first[d] = pos[p], f
            found.append(Rope(partner, first))
    if not found:
        return None
    for r in found[1:]:
        if not (np.array_equal(r.partner, found[0].partner) and np.array_equal(r.first, found[0].first)):
            raise NotAttention("heads rotate different channel pairs")
    return found[0]


def _v_of_scores(op: Operation):
    """Follow scores through scaling/masking/softmax to the matmul with V: (op, operand, axis)."""
    v = op.results[0]
    for _ in range(8):
        users = [u.operation for u in list(v.uses)]
        if len(users) != 1:
            return None
        u = users[0]
        name = u.name.removeprefix("tg.")
        if name == "matmul" and u.operands[0] is v:
            return u, 1, -1
        if name in ("div", "mul", "add", "sub", "softmax", "where", "cast", "reshape", "dropout"):
            v = u.results[0]
            continue
        return None
    return None


def find_sites(module, store=None, errors: list | None = None) -> list[Site]:
    """Every attention site of `@main` (or of every function), in program order.

    `errors` (a list) collects (op, reason) for matmuls between two activations that
    were not recognized.
    """
    st = Statics(store)
    tr = Tracer(st)
    sites: list[Site] = []
    for fn in [o for o in module.walk() if isinstance(o, func.FuncOp)]:
        for op in fn.body.walk():
            if not isinstance(op, TGOp):
                continue
            name = _short(op)
            try:
                if name == "matmul" and not any(st.is_static(o) for o in op.operands):
                    a, b = op.operands
                    if len(dtypes.shape_of(a.type)) < 2 or len(dtypes.shape_of(b.type)) < 2:
                        continue
                    try:
                        ql, kl = tr.labels(a), tr.labels(b)
                    except NotAttention as e:
                        if errors is not None:
                            errors.append((op, str(e)))
                        continue
                    site = _site_from_labels(len(sites), op, ql, kl, ql.labels, kl.labels, 1, -2)
                    vv = _v_of_scores(op)
                    if vv is not None:
                        site.v_op, site.v_operand, site.v_axis = vv
                    sites.append(site)
                elif name == "attention" and len(op.operands) >= 3 and op.attr("operand_slots") in (None, [0, 1, 2], [0, 1, 2, 3]):
                    q, k = op.operands[0], op.operands[1]
                    if len(dtypes.shape_of(q.type)) != 4 or len(dtypes.shape_of(k.type)) != 4:
                        continue
                    ql, kl = tr.labels(q), tr.labels(k)
                    hq, hk = dtypes.shape_of(q.type)[1], dtypes.shape_of(k.type)[1]
                    kk = np.repeat(kl.labels, hq // hk, axis=1)  # ONNX GQA: query head h uses KV head h // (hq/hk)
                    site = _site_from_labels(len(sites), op, ql, kl, ql.labels, np.swapaxes(kk, -1, -2), 1, -1)
                    site.v_op, site.v_operand, site.v_axis = op, 2, -1
                    sites.append(site)
            except NotAttention as e:
                if errors is not None:
                    errors.append((op, str(e)))
    return sites


# ---------------------------------------------------------------------------
# running parts of a function
# ---------------------------------------------------------------------------
def capture(fn: func.FuncOp, args, store, wanted: Iterable[SSAValue]) -> dict[SSAValue, np.ndarray]:
    """Run `fn` with the reference kernels and return the values of `wanted` (and the outputs under None)."""
    from tensorc.backends.reference import evaluate_op

    wanted = set(wanted)
    env: dict[SSAValue, np.ndarray] = dict(zip(fn.body.block.args, args))
    remaining: dict[SSAValue, int] = {}
    for op in fn.body.block.ops:
        for v in op.operands:
            remaining[v] = remaining.get(v, 0) + 1
    got: dict = {v: env[v] for v in wanted if v in env}
    for op in fn.body.block.ops:
        if isinstance(op, func.ReturnOp):
            got[None] = [env[v] for v in op.operands]
            break
        for r, val in zip(op.results, evaluate_op(op, [env[v] for v in op.operands], store)):
            env[r] = val
            if r in wanted:
                got[r] = val
        for v in op.operands:
            remaining[v] -= 1
            if remaining[v] == 0 and v not in fn.body.block.args:
                env.pop(v, None)
    return got


def slice_scores(site: Site, inputs: dict[SSAValue, np.ndarray], st: Statics) -> np.ndarray:
    """Q·Kᵀ of `site` (before any bfp quantization) from the projections' input activations."""
    from tensorc.backends.reference import evaluate_op

    memo: dict[SSAValue, np.ndarray] = dict(inputs)

    def val(v: SSAValue) -> np.ndarray:
        if v in memo:
            return memo[v]
        if st.is_static(v):
            res = st.value(v)
            if res is None:
                raise NotAttention("a weight is not available")
        else:
            op = v.owner
            if not isinstance(op, Operation):
                raise NotAttention("the scores depend on a function argument other than the projection inputs")
            if op.name == "bfp.dequantize":
                res = val(op.operands[0].owner.operands[0])
            else:
                res = evaluate_op(op, [val(o) for o in op.operands], st.store)[list(op.results).index(v)]
        memo[v] = res
        return res

    q, k = val(site.q_value), val(site.k_value)
    if site.op.name == "tg.attention":
        hq, hk = q.shape[1], k.shape[1]
        k = np.repeat(k, hq // hk, axis=1)
        return np.matmul(q.astype(np.float64), np.swapaxes(k, -1, -2).astype(np.float64))
    return np.matmul(q.astype(np.float64), k.astype(np.float64))


# ---------------------------------------------------------------------------
# rewriting (bfp-rearrange)
# ---------------------------------------------------------------------------
def column_permutation(n: int, heads: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """sigma over n columns: new column cols[d] takes old column cols[perm[d]], for each (cols, perm)."""
    sigma = np.arange(n)
    for cols, perm in heads:
        sigma[cols] = cols[perm]
    return sigma


def permuted_table(t: Table, table: np.ndarray, head_of_col: np.ndarray, perms: np.ndarray,
                   head_dim: int) -> np.ndarray:
    """The table that makes `t.op` see permuted channels: along the last axis, entry i of a position
    whose channel belongs to a head with permutation p takes the old entry (i - i mod D) + p[i mod D].

    head_of_col: [n] for every column of the projection, its row in `perms` ([P, D]; give columns
    that are not permuted an identity row).
    """
    shape = t.labels.shape
    tb = np.broadcast_to(table, shape)
    cols = (np.abs(t.labels) - 1) % t.proj.n
    C = shape[-1]
    if C % head_dim:
        raise NotAttention(f"{t.op.name}: last axis {C} is not a multiple of the head size {head_dim}")
    i = np.broadcast_to(np.arange(C), shape)
    j = (i // head_dim) * head_dim + perms[head_of_col[cols], i % head_dim]
    new = np.take_along_axis(tb, j, axis=-1)
    # keep broadcasting where the new table is constant along an axis (small weights)
    for ax in range(new.ndim):
        if new.shape[ax] > 1 and (new == np.take(new, [0], axis=ax)).all():
            new = np.take(new, [0], axis=ax)
    while new.ndim > np.ndim(table) and new.shape[0] == 1:
        new = new[0]
    return np.ascontiguousarray(new.astype(np.asarray(table).dtype))


def rotation_matrix(perm: np.ndarray, rope: Rope) -> np.ndarray:
    """[D, D] signed permutation M with rot'(x_new) = x_new @ M, where x_new[d] = x[perm[d]] and
    rot(x)[d] = s_d x[partner[d]] (s_d = -1 for the "first" role): rot'(x_new)[d] = rot(x)[perm[d]]."""
    D = len(perm)
    inv = np.empty(D, np.int64)
    inv[perm] = np.arange(D)
    M = np.zeros((D, D), np.float32)
    for d in range(D):
        src = perm[d]
        M[inv[rope.partner[src]], d] = -1.0 if rope.first[src] else 1.0
    return M


def rotation_matrices(rot: "Rotation", proj: Projection, head_of_col: np.ndarray, perms: np.ndarray,
                      rope: Rope) -> np.ndarray:
    """Per-head signed permutation matrices for `rot`, shaped to broadcast in matmul(x, M):
    [*lead, D, D] over x's leading dims (constant ones reduced to 1)."""
    lab = rot.src_labels
    if lab.ndim < 2:
        raise NotAttention("rotation of a vector")
    cols = (np.abs(lab) - 1) % proj.n
    heads = head_of_col[cols]  # [..., S, D]
    if not (heads == heads[..., :1, :1]).all():
        raise NotAttention("the head changes along the last two axes of the rotated tensor")
    lead = heads[..., 0, 0]
    D = perms.shape[1]
    mats = {int(h): rotation_matrix(perms[h], rope) for h in np.unique(lead)}
    full = np.stack([mats[int(h)] for h in lead.reshape(-1)]).reshape(lead.shape + (D, D))
    for ax in range(lead.ndim):
        if full.shape[ax] > 1 and (full == np.take(full, [0], axis=ax)).all():
            full = np.take(full, [0], axis=ax)
    while full.ndim > 2 and full.shape[0] == 1:
        full = full[0]
    return np.ascontiguousarray(full)


__all__ = ["Rotation", "rotation_matrix", "rotation_matrices", "Projection", "Table", "Labels", "Rope", "Site", "Statics", "NotAttention", "find_sites", "capture",
           "slice_scores", "column_permutation", "permuted_table", "match_projection", "InputNorm", "input_norm"]
