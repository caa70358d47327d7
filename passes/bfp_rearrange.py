"""bfp-rearrange: permute K's channels per layer and head so that similar magnitudes share BFP blocks.

    -p 'bfp-rearrange{score=weight-norm block=16}'
    -p 'bfp-rearrange{score=static block=16}'
    -p 'bfp-rearrange{score=calibration format=bfp12 block=16 samples="calib.npz" halves=true}'

Outlier channels of K set the shared exponent of every block they sit in and
flush their neighbours to zero. For every attention site (attention_match) and
every KV head, this pass chooses a permutation π of the head's channel
positions and applies it at compile time to

* the columns of W_k / entries of b_k that feed the KV head, and
* the columns of W_q / b_q of every query head that shares that KV head
  (grouped-query attention),

so that Q·Kᵀ = Σ_d q_d k_d is unchanged while the K cache holds the channels in
the new order. V and W_o are untouched.

RoPE (`rope=auto|pairs|tables`): a rotary embedding mixes channel pairs, so π
must respect them. `pairs` moves whole pairs into other pair slots (both
members alike, roles kept; pairs ranked by their joint magnitude, which the
rotation preserves) — with rotate-half a block then holds one member of
`block` pairs, so this only regroups when block < head_dim/2. `tables` puts
the two members of a pair side by side anywhere and rewrites the rotation
itself as a per-head signed permutation (`rotate_half(x)` -> `x @ M_h`,
i.e. π R πᵀ). In both, every static table multiplied into the rotated path
(cos/sin) is permuted per head, so each pair keeps its own frequency. `auto`
uses pairs when they can regroup, tables otherwise.

Scores:

* ``weight-norm`` (the paper's K-sort): a channel's score is the L2 norm of its
  row of W_k (with its bias as one more entry); channels are sorted by it,
  largest first. Needs no data.
* ``static``: a data-free estimate of each channel's power that also uses what
  feeds the projection. When x (the K projection's input) is the output of a
  LayerNorm/RMSNorm over the channels with static γ, β (a norm op or its
  written-out form, found through reshapes/transposes by
  `attention_match.input_norm`), E[k_c²] ≈ Σ_i W_ic² γ_i² + (Σ_i W_ic β_i + b_c)²
  (normalized inputs modelled as uncorrelated, zero mean, unit power). Without
  such a norm it falls back to the row norms, i.e. to ``weight-norm``.
* ``calibration``: sample inputs (``samples="FILE.npz"`` with one array per
  model input, or `use_samples({...})` from Python) are run through the fp32
  model. Candidates: the weight-norm and static sorts, the sort by RMS of k over the
  samples, and "isolate" (outliers first, their block topped up with the
  channels that matter least to the logits, E[q^2]E[k^2], then the rest by
  RMS). Per KV head, a candidate is kept only if it raises the SQNR of the
  logits Q·K̂ᵀ (K quantized to `format`/`block`) on all the samples (by at
  least `min-gain` dB) *and* on each of two disjoint halves of them (even- and
  odd-numbered samples; with a single sample, even and odd query positions);
  of those, the largest gain on all samples wins; else no permutation
  (`select_candidate`). A gain seen on one half only is indistinguishable
  from selection noise: requiring both is requiring the mean gain to exceed
  half the difference between the halves. `halves=false` drops the halves
  check. On the calibration samples the result is never worse than no
  permutation.

When the block is at least the head size (one block per head), a permutation
inside the block changes nothing: the pass leaves such sites alone.

After rewriting a site the pass recomputes Q·Kᵀ of that site (before any
quantization) from the projections' inputs — the calibration activations, or
seeded random normal ones — and compares it with the original: a relative
change (Frobenius) above `tol` (1e-5) undoes the rewrite of that site and is
reported. `report=true` prints the per-head report to stderr; `last_report()`
returns it.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.passes import ModulePass

from tensorc.diagnostics import PassError
from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, WeightOp
from tensorc.dialects.tg.nn import MatMulOp
from tensorc.quant import quantize, sqnr_db
from tensorc.quant.metrics import SQNR_CAP_DB

from .attention_match import (
    NotAttention,
    Projection,
    Site,
    Statics,
    capture,
    column_permutation,
    find_sites,
    input_norm,
    permuted_table,
    rotation_matrices,
    slice_scores,
)
from .bfp_quantize_kv import resolve_format
from .weights import current_weights

SCORES = ("weight-norm", "static", "calibration")
_SAMPLES: ContextVar[dict | None] = ContextVar("tensorc_bfp_samples", default=None)
_LAST: list[dict] = []


@contextmanager
def use_samples(samples: dict[str, np.ndarray] | None):
    """Calibration inputs (by model input name, or in argument order) for bfp-rearrange{score=calibration}."""
    token = _SAMPLES.set(samples)
    try:
        yield samples
    finally:
        _SAMPLES.reset(token)


def last_report() -> list[dict]:
    """One dict per (site, KV head) from the last run: what was chosen and why."""
    return list(_LAST)


# ---------------------------------------------------------------------------
# permutations
# ---------------------------------------------------------------------------
#: a channel (or pair) is an outlier when its score exceeds this many times the head's median
OUTLIER_RATIO = 4.0


@dataclass(frozen=True)
class Layout:
    """How a head's channels may move. kind: "free" (no RoPE), "pairs" (RoPE pairs keep their
    positions' structure: pair i -> pair slot, roles kept) or "tables" (RoPE pairs placed side by
    side anywhere; the rotation is rewritten as a per-head signed permutation)."""

    kind: str
    D: int
    block: int
    pairs: tuple = ()  # [(first, second)] positions, in position order (RoPE kinds)

    @property
    def units(self) -> int:
        return self.D if self.kind == "free" else len(self.pairs)

    @property
    def per_block(self) -> int:
        """Units that share one block."""
        if self.kind == "free":
            return self.block
        if self.kind == "pairs":
            return self.block  # block b of the first halves holds one member of `block` pairs
        return max(self.block // 2, 1)

    @property
    def effective(self) -> bool:
        """Can a permutation of units change which units share blocks?"""
        return self.per_block < self.units

    def unit_scores(self, scores: np.ndarray) -> np.ndarray:
        """Channel scores -> unit scores (pairs: joint L2, which rotation preserves)."""
        if self.kind == "free":
            return scores
        return np.array([np.hypot(scores[a], scores[b]) for a, b in self.pairs])

    def perm(self, order: np.ndarray) -> np.ndarray:
        """Position permutation placing units in `order` (new position d holds old position perm[d])."""
        if self.kind == "free":
            return np.asarray(order)
        perm = np.arange(self.D)
        if self.kind == "pairs":
            for slot, src in enumerate(order):
                perm[self.pairs[slot][0]], perm[self.pairs[slot][1]] = self.pairs[src]
        else:
            for slot, src in enumerate(order):
                perm[2 * slot], perm[2 * slot + 1] = self.pairs[src]
        return perm


def order_sorted(scores: np.ndarray) -> np.ndarray:
    """The paper's K-sort: units by score, largest first."""
    return np.argsort(-scores, kind="stable")


def order_isolated(scores: np.ndarray, importance: np.ndarray, per_block: int) -> np.ndarray:
    """Outliers first, their last block topped up with the least important units (whose flushing
    costs the logits least), then the rest by score. importance ~ E[q^2] E[k^2] per unit."""
    order = order_sorted(scores)
    med = np.median(scores)
    out = [int(u) for u in order if scores[u] > OUTLIER_RATIO * med]
    if not out:
        return order
    rest = [int(u) for u in order if scores[u] <= OUTLIER_RATIO * med]
    k = (-len(out)) % per_block
    fill = sorted(rest, key=lambda u: importance[u])[:k]
    rest = [u for u in rest if u not in set(fill)]
    return np.array(out + fill + rest)


def _weight_norm_scores(site: Site, st: Statics) -> np.ndarray:
    """[Hkv, D]: L2 norm of each channel's weights (bias included) in the K projection."""
    p = site.k.proj
    W = st.value(p.matmul.operands[p.weight_operand])
    if W is None:
        raise NotAttention("the K weights are not available (no weight store)")
    W = np.asarray(W, np.float64)
    sq = np.sum(W * W, axis=1 - p.weight_axis)
    if p.bias_op is not None:
        b = st.value(p.bias_op.operands[p.bias_operand])
        if b is None:
            raise NotAttention("the K bias is not available")
        sq = sq + np.asarray(b, np.float64).reshape(-1) ** 2
    return np.sqrt(sq)[site.k_cols]


def _static_scores(site: Site, st: Statics) -> tuple[np.ndarray, str]:
    """[Hkv, D]: a data-free estimate of the RMS of each K channel, and where it came from.

    With K = (n·γ + β) @ W_k + b_k and n normalized over the channels (LayerNorm/RMSNorm: mean
    square 1 per row), modelling the n_i as uncorrelated with E[n_i] = 0, E[n_i²] = 1 gives

        E[k_c²] ≈ Σ_i W_ic² γ_i²  +  (Σ_i W_ic β_i + b_c)²

    (the spread the norm's scale leaves, plus the channel's static mean). Without a norm before
    the projection (attention_match.input_norm finds none) it is the paper's row norm (γ = 1,
    β = 0), so the score then equals weight-norm. tg.gemm's alpha/beta are included.
    """
    p = site.k.proj
    W = st.value(p.matmul.operands[p.weight_operand])
    if W is None:
        raise NotAttention("the K weights are not available (no weight store)")
    W = np.asarray(W, np.float64)
    if p.weight_axis == 0:  # [N, C] (gemm transB) -> [C, N]
        W = W.T
    alpha = beta_b = 1.0
    if p.matmul.name == "tg.gemm":
        alpha, beta_b = float(p.matmul.attr("alpha")), float(p.matmul.attr("beta"))
    b = np.zeros(W.shape[1])
    if p.bias_op is not None:
        bv = st.value(p.bias_op.operands[p.bias_operand])
        if bv is None:
            raise NotAttention("the K bias is not available")
        b = np.asarray(bv, np.float64).reshape(-1) * (beta_b if p.bias_op is p.matmul else 1.0)
    norm = input_norm(p, st)
    if norm is None:
        gamma, shift, source = np.ones(W.shape[0]), np.zeros(W.shape[0]), "row norms (no norm before the K projection)"
    else:
        gamma, shift, source = norm.gamma, norm.beta, norm.describe()
    power = alpha**2 * ((W * W) * (gamma * gamma)[:, None]).sum(axis=0) + (alpha * (shift @ W) + b) ** 2
    return np.sqrt(power)[site.k_cols], source


def _lead_view(x: np.ndarray, lead: tuple, tail: int = 2) -> np.ndarray:
    """Broadcast the leading dims of `x` to `lead` and flatten them: [L, *last two dims]."""
    x = np.broadcast_to(x, tuple(lead) + x.shape[-tail:])
    return x.reshape((-1,) + x.shape[-tail:])


def _db(sig: float, noise: float) -> float:
    """sqnr_db from summed powers (same conventions: the cap for zero noise or zero signal)."""
    if noise == 0:
        return SQNR_CAP_DB
    if sig == 0:
        return -SQNR_CAP_DB
    return float(np.clip(10.0 * np.log10(sig / noise), -SQNR_CAP_DB, SQNR_CAP_DB))


def sample_of_lead(site: Site, n: int) -> np.ndarray | None:
    """[L]: the calibration sample (index along axis 0 of the inputs) that each lead index of the
    site's scores reads, or None when that cannot be told.

    A row of a projection output Y [..., C] is numbered in Y's leading shape; its sample is taken as
    its coordinate along an axis of that shape of size n, or, for rows flattened to [n·T], as
    row // T (samples major). A mapping is accepted only if, under it, every lead index reads Q rows
    and K rows of one and the same sample: attention never mixes samples, so a wrong guess shows.
    """
    if n < 2:
        return None
    lead = tuple(site.lead_shape)
    L = int(np.prod(lead))

    def rows(lab: np.ndarray, proj: Projection) -> np.ndarray:
        lab = np.broadcast_to(lab, lead + lab.shape[-2:]).reshape(L, -1)
        return (np.abs(lab) - 1) // proj.n

    k_lab = site.k.labels
    if site.op.name == "tg.attention":  # K [B, Hkv, T, D]: one copy per query head, as the scores see it
        hq, hk = dtypes.shape_of(site.q_value.type)[1], dtypes.shape_of(site.k_value.type)[1]
        k_lab = np.repeat(k_lab, hq // hk, axis=1)
    q_rows, k_rows = rows(site.q.labels, site.q.proj), rows(k_lab, site.k.proj)

    def mappings(proj: Projection):
        shape = tuple(dtypes.shape_of(proj.value.type)[:-1])
        total = int(np.prod(shape))
        if total % n == 0:
            yield lambda r: r // (total // n)
        for axis, size in enumerate(shape):
            if size == n and axis > 0:
                yield lambda r, axis=axis: np.unravel_index(r, shape)[axis]

    for fq in mappings(site.q.proj):
        sq = fq(q_rows)
        if not (sq == sq[:, :1]).all():
            continue
        for fk in mappings(site.k.proj):
            if (fk(k_rows) == sq[:, :1]).all():
                return sq[:, 0]
    return None


def split_halves(site: Site, n_samples: int, num_queries: int) -> tuple[np.ndarray | None, str]:
    """The two halves of a site's calibration rows: [L, S] of 0/1, and how they were made.

    By sample when the samples can be told apart (even-numbered samples in half 0, odd in half 1);
    otherwise (one sample, or a layout without a sample axis) by query position (even / odd), a
    weaker check: both halves then share the keys. (None, "none") when neither is possible.
    """
    L = int(np.prod(site.lead_shape))
    heads = site.k_head_of_lead
    sample = sample_of_lead(site, n_samples)
    if sample is not None:
        half = sample % 2
        if all({0, 1} <= set(half[heads == g].tolist()) for g in range(site.num_kv_heads)):
            return np.repeat(half[:, None], num_queries, axis=1), "samples"
    if num_queries >= 2:
        return np.broadcast_to(np.arange(num_queries) % 2, (L, num_queries)).copy(), "queries"
    return None, "none"


def select_candidate(base: tuple, scores: dict[str, tuple], min_gain: float = 0.0,
                     halves: bool = True) -> tuple[str, dict[str, tuple], str | None]:
    """The calibration rule: which candidate permutation to keep for one KV head.

    base and scores[name] are logits SQNRs in dB as (whole, half 0, half 1). A candidate is
    eligible if it raises the SQNR on the whole by more than 0 and by at least min_gain, and (with
    halves) on each half separately; of the eligible ones the largest gain on the whole wins.
    No eligible candidate: "none" (keep the identity). Returns (choice, gains by name as
    (whole, half 0, half 1) dB, why "none" or None).
    """
    gains = {name: tuple(float(x - b) for x, b in zip(v, base)) for name, v in scores.items()}
    raise_all = {n: g for n, g in gains.items() if g[0] > 0}
    big = {n: g for n, g in raise_all.items() if g[0] >= min_gain}
    ok = {n: g for n, g in big.items() if not halves or (g[1] > 0 and g[2] > 0)}
    if ok:
        return max(ok, key=lambda n: ok[n][0]), gains, None
    if not raise_all:
        why = "no candidate raises logits SQNR on the samples"
    elif not big:
        best = max(raise_all, key=lambda n: raise_all[n][0])
        why = f"best gain {raise_all[best][0]:.4f} dB ({best}) < min-gain {min_gain:g}"
    else:
        best = max(big, key=lambda n: big[n][0])
        g = big[best]
        why = (f"no candidate raises logits SQNR on both halves of the calibration data (best on all: {best}, "
               f"{g[0]:+.4f} dB; halves {g[1]:+.4f} / {g[2]:+.4f} dB)")
    return "none", gains, why


class Calibration:
    """Q and K (as the scores op sees them) of every site on the sample inputs.

    `half` [L, S] (0 or 1, or None) splits the (lead index, query) rows of the logits into the two
    halves the selection rule checks separately; `split` says how ("samples" or "queries").
    """

    def __init__(self, site: Site, q: np.ndarray, k: np.ndarray, half: np.ndarray | None = None,
                 split: str = "none"):
        self.site = site
        if site.op.name == "tg.attention":
            hq, hk = q.shape[1], k.shape[1]
            k = np.swapaxes(np.repeat(k, hq // hk, axis=1), -1, -2)
        self.q = _lead_view(q.astype(np.float32), site.lead_shape)  # [L, S, D]
        self.k = _lead_view(k.astype(np.float32), site.lead_shape)  # [L, D, T]
        self.half = half
        self.split = split

    def q_power(self) -> np.ndarray:
        """[Hkv, D]: mean q^2 per channel position over the query heads of each KV head."""
        s = self.site
        out = np.zeros((s.num_kv_heads, s.head_dim))
        for g in range(s.num_kv_heads):
            qq = self.q[s.k_head_of_lead == g].astype(np.float64)
            out[g] = np.mean(qq * qq, axis=(0, 1))
        return out

    def rms_scores(self) -> np.ndarray:
        """[Hkv, D]: RMS of k over tokens and samples, per channel position."""
        s = self.site
        out = np.zeros((s.num_kv_heads, s.head_dim))
        for g in range(s.num_kv_heads):
            kk = self.k[s.k_head_of_lead == g].astype(np.float64)
            out[g] = np.sqrt(np.mean(kk * kk, axis=(0, 2)))
        return out

    def logits_sqnr(self, g: int, perm: np.ndarray, fmt) -> float:
        """SQNR of Q·K̂ᵀ over the query heads of KV head g, K quantized after permuting channels by perm."""
        s = self.site
        sel = s.k_head_of_lead == g
        q = self.q[sel][..., perm].astype(np.float64)
        k = self.k[sel][:, perm, :]
        ref = np.matmul(self.q[sel].astype(np.float64), self.k[sel].astype(np.float64))
        kq = quantize(k, fmt, axis=-2).astype(np.float64)
        return sqnr_db(ref, np.matmul(q, kq))

    def logits_sqnr_split(self, g: int, perm: np.ndarray, fmt) -> tuple[float, float, float]:
        """(whole, half 0, half 1): logits_sqnr over all rows and over each half of them (self.half).

        The whole is the same number as logits_sqnr (signal and noise powers summed over all rows)."""
        s = self.site
        sel = s.k_head_of_lead == g
        q64 = self.q[sel].astype(np.float64)
        ref = np.matmul(q64, self.k[sel].astype(np.float64))  # [Lg, S, T]
        kq = quantize(self.k[sel][:, perm, :], fmt, axis=-2).astype(np.float64)
        err = ref - np.matmul(q64[..., perm], kq)
        sig = np.sum(ref * ref, axis=-1)  # [Lg, S]
        noise = np.sum(err * err, axis=-1)
        whole = _db(sig.sum(), noise.sum())
        if self.half is None:
            return whole, whole, whole
        h = self.half[sel]
        return whole, _db(sig[h == 0].sum(), noise[h == 0].sum()), _db(sig[h == 1].sum(), noise[h == 1].sum())

    def channel_sqnr(self, g: int, perm: np.ndarray, fmt) -> float:
        """Mean over channels of the per-channel SQNR of K (dB)."""
        from tensorc.quant import channel_sqnr_db

        k = self.k[self.site.k_head_of_lead == g][:, perm, :]
        return float(np.mean(channel_sqnr_db(k, quantize(k, fmt, axis=-2), channel_axis=-2)))


# ---------------------------------------------------------------------------
# the pass
# ---------------------------------------------------------------------------
def _materialize(array: np.ndarray, stem: str, store, before: Operation, hint: str | None = None) -> SSAValue:
    """`array` as a new tg.weight (or tg.constant without a store) before `before`."""
    array = np.ascontiguousarray(array)
    if store is not None:
        name = store.add_unique(stem, array)
        new = WeightOp(name, dtypes.tensor_type(array.shape, array.dtype))
    else:
        new = ConstantOp.from_array(array)
    if hint:
        new.results[0].name_hint = hint
    Rewriter.insert_op(new, InsertPoint.before(before))
    return new.results[0]


def _hint(value: SSAValue, suffix: str = "perm") -> str | None:
    return f"{value.name_hint}_{suffix}" if value.name_hint else None


def _stem(value: SSAValue, fallback: str) -> str:
    op = value.owner
    base = op.weight_name if isinstance(op, WeightOp) else fallback
    return f"{base}.kperm"


class _Edits:
    """Operand replacements, undoable."""

    def __init__(self):
        self.done: list[tuple[Operation, int, SSAValue]] = []

    def set(self, op: Operation, index: int, value: SSAValue):
        self.done.append((op, index, op.operands[index]))
        op.operands[index] = value

    def undo(self):
        for op, index, old in reversed(self.done):
            new = op.operands[index]
            op.operands[index] = old
            _erase_if_dead(new.owner)
        self.done.clear()

    def cleanup(self):
        for _, _, old in self.done:
            _erase_if_dead(old.owner)


def _erase_if_dead(op):
    """Erase an unused static op and, recursively, the static ops only it used."""
    if not isinstance(op, Operation) or op.parent is None or any(True for r in op.results for _ in r.uses):
        return
    if not (isinstance(op, (WeightOp, ConstantOp)) or all(isinstance(o.owner, Operation) for o in op.operands)):
        return
    if op.name.startswith("func."):
        return
    inputs = [o.owner for o in op.operands]
    op.detach()
    op.erase()
    for i in inputs:
        if isinstance(i, (WeightOp, ConstantOp)) or (isinstance(i, Operation) and i.name.startswith("tg.")):
            _erase_if_dead(i)


def _rewrite_projection(p: Projection, sigma: np.ndarray, st: Statics, edits: _Edits, tag: str):
    store = st.store
    wv = p.matmul.operands[p.weight_operand]
    W = st.value(wv)
    if W is None:
        raise NotAttention(f"weights of '{p.name}' are not available")
    edits.set(p.matmul, p.weight_operand,
              _materialize(np.take(W, sigma, axis=p.weight_axis), _stem(wv, f"{tag}.w"), store, p.matmul, _hint(wv)))
    if p.bias_op is not None:
        bv = p.bias_op.operands[p.bias_operand]
        b = st.value(bv)
        if b is None:
            raise NotAttention(f"bias of '{p.name}' is not available")
        edits.set(p.bias_op, p.bias_operand,
                  _materialize(np.take(b, sigma, axis=-1), _stem(bv, f"{tag}.b"), store, p.bias_op, _hint(bv)))


@dataclass(frozen=True)
class BfpRearrange(ModulePass):
    """Permute K's channels per layer and KV head (W_k, b_k and the sharing W_q, b_q rows) for BFP blocks."""

    name = "bfp-rearrange"

    score: str = "weight-norm"
    format: str = "bfp12"
    block: int = 16
    samples: str = ""
    rope: str = "auto"
    min_gain: float = 0.0
    halves: bool = True
    tol: float = 1e-5
    seed: int = 0
    report: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.score not in SCORES:
            raise PassError(f"bfp-rearrange: score must be one of {', '.join(SCORES)}, got '{self.score}'")
        if self.rope not in ("auto", "pairs", "tables"):
            raise PassError(f"bfp-rearrange: rope must be auto, pairs or tables, got '{self.rope}'")
        fmt = resolve_format(self.format, self.block)
        store = current_weights()
        st = Statics(store)
        sites = find_sites(op, store)
        rows: list[dict] = []
        calib: dict[int, Calibration] = {}
        xs: dict[SSAValue, np.ndarray] = {}
        if self.score == "calibration":
            calib, xs = self._calibrate(op, sites, store)
        rng = np.random.default_rng(self.seed)
        done_proj: set[int] = set()
        for site in sites:
            base = dict(site=site.index, name=site.name, head_dim=site.head_dim, block=fmt.block, format=fmt.name)
            if fmt.block >= site.head_dim:
                rows += [dict(base, kv_head=g, action="none", reason="block covers the whole head")
                         for g in range(site.num_kv_heads)]
                continue
            projs = {id(site.q.proj), id(site.k.proj)}
            if projs & done_proj:
                rows.append(dict(base, kv_head=None, action="none", reason="projection already permuted by another site"))
                continue
            try:
                layout = self._layout(site, fmt)
                if not layout.effective:
                    rows += [dict(base, kv_head=g, action="none", layout=layout.kind,
                                  reason=f"every block already holds one member of every RoPE pair (block {fmt.block} "
                                         f">= head_dim/2 with rope=pairs)")
                             for g in range(site.num_kv_heads)]
                    continue
                perms, head_rows = self._choose(site, st, calib.get(site.index), fmt, layout)
            except NotAttention as e:
                rows.append(dict(base, kv_head=None, action="none", reason=str(e)))
                continue
            head_rows = [dict(base, **r) for r in head_rows]
            if all((p == np.arange(site.head_dim)).all() for p in perms):
                rows += head_rows
                continue
            try:
                check = self._apply_site(site, perms, st, xs, rng, layout)
            except NotAttention as e:
                for r in head_rows:
                    r.update(action="none", reason=f"cannot rewrite: {e}")
                rows += head_rows
                continue
            for r in head_rows:
                r.update(check)
            rows += head_rows
            done_proj |= projs
        _LAST[:] = rows
        if self.report:
            _print_report(rows)

    # -- choosing ------------------------------------------------------------
    def _layout(self, site: Site, fmt) -> Layout:
        D = site.head_dim
        if site.rope is None:
            return Layout("free", D, fmt.block)
        pairs = tuple(site.rope.pair_list())
        rewritable = bool(site.q.rotations + site.k.rotations) and all(
            r is not None for r in site.q.rotations + site.k.rotations)
        kind = self.rope
        if kind == "auto":
            kind = "pairs" if Layout("pairs", D, fmt.block, pairs).effective or not rewritable else "tables"
        if kind == "tables" and not rewritable:
            raise NotAttention("rope=tables: the rotation is not in a form this pass can rewrite")
        return Layout(kind, D, fmt.block, pairs)

    def _choose(self, site: Site, st: Statics, cal: Calibration | None, fmt, layout: Layout):
        D = site.head_dim
        ident = np.arange(D)
        scores: dict[str, np.ndarray] = {}
        source = None
        try:
            scores["weight-norm"] = _weight_norm_scores(site, st)
            scores["static"], source = _static_scores(site, st)
        except NotAttention:
            if cal is None:
                raise
        if cal is not None:
            scores["calibration-rms"] = cal.rms_scores()
            q2 = cal.q_power()
        perms, rows = [], []
        for g in range(site.num_kv_heads):
            qh = [int(h) for h in np.nonzero(site.kv_of_q == g)[0]]
            row = dict(kv_head=g, q_heads=qh, layout=layout.kind)
            if source is not None:
                row["static_source"] = source
            options = {name: layout.perm(order_sorted(layout.unit_scores(sc[g]))) for name, sc in scores.items()}
            if cal is not None:
                us = layout.unit_scores(scores["calibration-rms"][g])
                imp = layout.unit_scores(np.sqrt(q2[g])) ** 2 * us**2
                options["calibration-isolate"] = layout.perm(order_isolated(us, imp, layout.per_block))
            if self.score in ("weight-norm", "static"):
                perm = options[self.score]
                row.update(action=self.score, perm=perm.tolist())
            else:
                base = cal.logits_sqnr_split(g, ident, fmt)
                measured = {name: cal.logits_sqnr_split(g, perm, fmt) for name, perm in options.items()}
                best, gains, why = select_candidate(base, measured, self.min_gain, self.halves)
                perm = options[best] if best != "none" else ident
                after = measured[best] if best != "none" else base
                row.update(action=best, perm=perm.tolist(), logits_sqnr_before=base[0], logits_sqnr_after=after[0],
                           split=cal.split if self.halves else "none",
                           logits_sqnr_halves_before=list(base[1:]), logits_sqnr_halves_after=list(after[1:]),
                           gains_db=gains,
                           k_channel_sqnr_before=cal.channel_sqnr(g, ident, fmt),
                           k_channel_sqnr_after=cal.channel_sqnr(g, perm, fmt))
                if why:
                    row["reason"] = why
            perms.append(perm)
            rows.append(row)
        return perms, rows

    # -- applying ------------------------------------------------------------
    def _apply_site(self, site: Site, perms: list[np.ndarray], st: Statics, xs: dict, rng, layout: Layout) -> dict:
        D = site.head_dim
        kp, qp = site.k.proj, site.q.proj
        k_heads = [(site.k_cols[g], perms[g]) for g in range(site.num_kv_heads)]
        q_heads = [(site.q_cols[h], perms[site.kv_of_q[h]]) for h in range(site.num_q_heads)]
        # projection inputs for the check
        inputs = {}
        for p in (qp, kp):
            if p.x not in inputs:
                inputs[p.x] = xs.get(p.x)
                if inputs[p.x] is None:
                    inputs[p.x] = rng.standard_normal(dtypes.shape_of(p.x.type)).astype(np.float32)
        before = slice_scores(site, inputs, st)
        edits = _Edits()
        try:
            # tables first: they are read with the projections' old column layout
            all_perms = np.stack([np.arange(D)] + list(perms))  # row 0: identity
            for lab, heads_of in ((site.q, lambda: [(site.q_cols[h], 1 + site.kv_of_q[h]) for h in range(site.num_q_heads)]),
                                  (site.k, lambda: [(site.k_cols[g], 1 + g) for g in range(site.num_kv_heads)])):
                head_of_col = np.zeros(lab.proj.n, np.int64)
                for cols, row in heads_of():
                    head_of_col[cols] = row
                seen = set()
                for t in lab.tables:
                    if id(t) in seen:
                        continue
                    seen.add(id(t))
                    tv = t.op.operands[t.operand]
                    T = st.value(tv)
                    if T is None:
                        raise NotAttention(f"table of {t.op.name} is not available")
                    new = permuted_table(t, np.asarray(T), head_of_col, all_perms, D)
                    edits.set(t.op, t.operand, _materialize(new, _stem(tv, f"site{site.index}.table"), st.store, t.op,
                                                            _hint(tv)))
                if layout.kind == "tables":
                    for rot in lab.rotations:
                        if id(rot) in seen:
                            continue
                        seen.add(id(rot))
                        M = rotation_matrices(rot, lab.proj, head_of_col, all_perms, site.rope)
                        xshape = dtypes.shape_of(rot.src.type)
                        want = dtypes.shape_of(rot.user.operands[rot.operand].type)
                        if np.broadcast_shapes(xshape[:-2], M.shape[:-2]) + xshape[-2:] != want:
                            raise NotAttention("the rewritten rotation would have another shape")
                        mv = _materialize(M, f"site{site.index}.rope_rotation", st.store, rot.user, "rope_rotation")
                        mm = MatMulOp.make([rot.src, mv], src=f"bfp-rearrange/site{site.index}/rotation")
                        Rewriter.insert_op(mm, InsertPoint.before(rot.user))
                        edits.set(rot.user, rot.operand, mm.results[0])
            if qp is kp:
                sigma = column_permutation(kp.n, k_heads + q_heads)
                _rewrite_projection(kp, sigma, st, edits, f"site{site.index}.qk")
            else:
                _rewrite_projection(kp, column_permutation(kp.n, k_heads), st, edits, f"site{site.index}.k")
                _rewrite_projection(qp, column_permutation(qp.n, q_heads), st, edits, f"site{site.index}.q")
            after = slice_scores(site, inputs, st)
        except NotAttention:
            edits.undo()
            raise
        err = float(np.linalg.norm(after - before) / max(np.linalg.norm(before), 1e-30))
        maxerr = float(np.max(np.abs(after - before)) / max(np.max(np.abs(before)), 1e-30))
        if not err <= self.tol:
            edits.undo()
            raise NotAttention(f"Q·Kᵀ changed by {err:.3g} (relative) > tol {self.tol:g}; site left as it was")
        edits.cleanup()
        return dict(qk_rel_change=err, qk_max_rel_change=maxerr)

    # -- calibration ---------------------------------------------------------
    def _calibrate(self, module: ModuleOp, sites: list[Site], store):
        samples = _SAMPLES.get()
        if samples is None and self.samples:
            try:
                with np.load(self.samples, allow_pickle=False) as z:
                    samples = {k: z[k] for k in z.files}
            except (OSError, ValueError) as e:
                raise PassError(f"bfp-rearrange: cannot read samples '{self.samples}': {e}") from None
        if samples is None:
            raise PassError("bfp-rearrange{score=calibration} needs sample inputs: samples=FILE.npz "
                            "(one array per model input) or tensorc.passes.bfp_rearrange.use_samples({...})")
        if store is None:
            raise PassError("bfp-rearrange{score=calibration} needs the program's weights (run it through "
                            "tensorc.lower / tensorc import -p, not on a bare .mlir file)")
        main = next((o for o in module.ops if isinstance(o, func.FuncOp) and o.sym_name.data == "main"), None)
        if main is None:
            raise PassError("bfp-rearrange: no func.func @main to calibrate")
        args = list(main.body.block.args)
        by_name = {a.name_hint: a for a in args if a.name_hint}
        if all(k in by_name for k in samples):
            vals = {by_name[k]: np.asarray(v) for k, v in samples.items()}
        elif len(samples) == len(args):
            vals = dict(zip(args, (np.asarray(v) for v in samples.values())))
        else:
            raise PassError(f"bfp-rearrange: samples {sorted(samples)} do not match the inputs of @main "
                            f"({', '.join(a.name_hint or '?' for a in args)})")
        missing = [a.name_hint for a in args if a not in vals]
        if missing:
            raise PassError(f"bfp-rearrange: no sample for input(s) {', '.join(map(str, missing))}")
        wanted = set()
        for s in sites:
            wanted |= {s.q_value, s.k_value, s.q.proj.x, s.k.proj.x}
        got = capture(main, [vals[a] for a in args], store, wanted)
        n_samples = _sample_count(vals[a] for a in args)
        calib = {}
        for s in sites:
            cal = Calibration(s, got[s.q_value], got[s.k_value])
            if self.halves:
                cal.half, cal.split = split_halves(s, n_samples, cal.q.shape[1])
                if cal.half is None:
                    raise PassError(f"bfp-rearrange: cannot split the calibration data of site {s.index} '{s.name}' "
                                    f"in two halves (one sample, one query); give more samples or halves=false")
            calib[s.index] = cal
        xs = {v: got[v] for s in sites for v in (s.q.proj.x, s.k.proj.x)}
        return calib, xs


def _sample_count(arrays) -> int:
    """The number of calibration samples: the common length of axis 0 of every input (0 if none)."""
    sizes = {np.shape(a)[0] if np.ndim(a) else 0 for a in arrays}
    return sizes.pop() if len(sizes) == 1 else 0


def _print_report(rows: list[dict]) -> None:
    for r in rows:
        head = f"site {r['site']} '{r['name']}'" + (f" kv-head {r['kv_head']}" if r.get("kv_head") is not None else "")
        text = f"bfp-rearrange: {head}: {r['action']}"
        if r["action"] == "static" and r.get("static_source"):
            text += f" (from {r['static_source']})"
        if r.get("layout") in ("pairs", "tables"):
            text += f" (RoPE {r['layout']})"
        if "logits_sqnr_before" in r:
            text += f", logits SQNR {r['logits_sqnr_before']:.3f} -> {r['logits_sqnr_after']:.3f} dB"
            if r.get("split") not in (None, "none"):
                (a0, b0), (a1, b1) = r["logits_sqnr_halves_before"], r["logits_sqnr_halves_after"]
                text += f" (halves by {r['split']}: {a1 - a0:+.3f} / {b1 - b0:+.3f} dB)"
        if "k_channel_sqnr_before" in r:
            text += f", K channel SQNR {r['k_channel_sqnr_before']:.2f} -> {r['k_channel_sqnr_after']:.2f} dB"
        if "qk_rel_change" in r:
            text += f", Q·Kᵀ rel. change {r['qk_rel_change']:.1e}"
        if r.get("perm") is not None and r["action"] not in ("none",):
            p = r["perm"]
            text += f", perm [{', '.join(map(str, p[:8]))}{', ...' if len(p) > 8 else ''}]"
        if r.get("reason"):
            text += f" ({r['reason']})"
        print(text, file=sys.stderr)


__all__ = ["BfpRearrange", "use_samples", "last_report", "Layout", "order_sorted", "order_isolated", "Calibration",
           "SCORES", "select_candidate", "split_halves", "sample_of_lead"]
