"""Data movement: view/reshape, permute, expand, slice/select, cat/stack, split/chunk, indexing, padding."""

from __future__ import annotations

import math

import numpy as np

from ..importer import OpContext, Val, aten, dims_list, norm_dim


def _resolve(shape, numel: int) -> list[int]:
    shape = [int(d) for d in shape]
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        shape[shape.index(-1)] = numel // known if known else 0
    return shape


@aten("view.default", "_unsafe_view", "reshape", "view_copy.default")
def view(cx: OpContext):
    x = cx["self"]
    size = cx.get("size", cx.get("shape"))
    return cx.reshape(x, _resolve(size, math.prod(x.shape)))


@aten("flatten.using_ints")
def flatten(cx: OpContext):
    x = cx["self"]
    if x.rank == 0:
        return cx.reshape(x, [1])
    s, e = norm_dim(cx.get("start_dim", 0), x.rank), norm_dim(cx.get("end_dim", -1), x.rank)
    return cx.reshape(x, list(x.shape[:s]) + [math.prod(x.shape[s:e + 1])] + list(x.shape[e + 1:]))


@aten("unflatten.int")
def unflatten(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx["dim"], x.rank)
    sizes = _resolve(cx["sizes"], x.shape[d])
    return cx.reshape(x, list(x.shape[:d]) + sizes + list(x.shape[d + 1:]))


def _transpose(cx: OpContext, x: Val, perm: list[int]) -> Val:
    perm = [norm_dim(p, x.rank) for p in perm]
    if perm == list(range(x.rank)):
        return x
    return cx.emit1("transpose", [x], {"perm": perm})


@aten("permute")
def permute(cx: OpContext):
    return _transpose(cx, cx["self"], list(cx["dims"]))


@aten("transpose.int")
def transpose(cx: OpContext):
    x = cx["self"]
    perm = list(range(x.rank))
    a, b = norm_dim(cx["dim0"], x.rank), norm_dim(cx["dim1"], x.rank)
    perm[a], perm[b] = perm[b], perm[a]
    return _transpose(cx, x, perm)


@aten("t")
def t(cx: OpContext):
    x = cx["self"]
    return x if x.rank < 2 else _transpose(cx, x, [1, 0])


@aten("movedim.int")
def movedim(cx: OpContext):
    x = cx["self"]
    src, dst = norm_dim(cx["source"], x.rank), norm_dim(cx["destination"], x.rank)
    perm = [d for d in range(x.rank) if d != src]
    perm.insert(dst, src)
    return _transpose(cx, x, perm)


@aten("unsqueeze")
def unsqueeze(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx["dim"], x.rank + 1)
    return cx.reshape(x, list(x.shape[:d]) + [1] + list(x.shape[d:]))


@aten("squeeze")
def squeeze(cx: OpContext):
    x = cx["self"]
    dims = cx.get("dim")
    axes = range(x.rank) if dims is None else dims_list(dims, x.rank)
    drop = {a for a in axes if x.shape[a] == 1}  # torch leaves other sizes alone
    return cx.reshape(x, [d for i, d in enumerate(x.shape) if i not in drop])


@aten("expand", "expand_copy")
def expand(cx: OpContext):
    x = cx["self"]
    size = [int(d) for d in cx["size"]]
    lead = len(size) - x.rank
    shape = [x.shape[i - lead] if d == -1 else d for i, d in enumerate(size)]
    if shape == list(x.shape):
        return x
    return cx.emit1("expand", [x], {"shape": shape})


@aten("expand_as")
def expand_as(cx: OpContext):
    x = cx["self"]
    shape = list(cx["other"].shape)
    return x if shape == list(x.shape) else cx.emit1("expand", [x], {"shape": shape})


@aten("view_as", "reshape_as")
def view_as(cx: OpContext):
    return cx.reshape(cx["self"], cx["other"].shape)


def slice_val(cx: OpContext, x: Val, dim: int, start, end, step=1) -> Val:
    d = norm_dim(dim, x.rank)
    n = x.shape[d]
    r = range(*slice(start, end, step).indices(n))
    if step == 1 and r.start == 0 and len(r) == n:
        return x
    s, e = r.start, r.start + len(r) * step
    if step < 0 and e < 0:
        e = -n - 1  # past the front
    return cx.emit1("slice", [x], {"starts": [s], "ends": [e], "axes": [d], "steps": [int(step)]})


@aten("slice.Tensor", "slice_copy.Tensor")
def slice_(cx: OpContext):
    x = cx["self"]
    step = int(cx.get("step", 1))
    if step < 1:
        raise cx.unsupported(f"step {step}")
    return slice_val(cx, x, int(cx.get("dim", 0)), cx.get("start"), cx.get("end"), step)


@aten("select.int", "select_copy.int")
def select(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx["dim"], x.rank)
    i = int(cx["index"])
    i = i + x.shape[d] if i < 0 else i
    y = slice_val(cx, x, d, i, i + 1)
    return cx.reshape(y, list(x.shape[:d]) + list(x.shape[d + 1:]))


@aten("narrow")
def narrow(cx: OpContext):
    x = cx["self"]
    s = int(cx["start"])
    return slice_val(cx, x, cx["dim"], s, s + int(cx["length"]))


@aten("flip")
def flip(cx: OpContext):
    x = cx["self"]
    for d in dims_list(cx["dims"], x.rank):
        x = cx.emit1("slice", [x], {"starts": [-1], "ends": [-x.shape[d] - 1], "axes": [d], "steps": [-1]})
    return x


@aten("cat", "concat")
def cat(cx: OpContext):
    dt = cx.out_dtype
    xs = [cx.tensor(t, dt) for t in cx["tensors"]]
    # torch skips legacy empty 1-D tensors in a cat of higher-rank ones
    rank = max(x.rank for x in xs)
    xs = [x for x in xs if not (x.rank == 1 and x.shape[0] == 0 and rank > 1)]
    if len(xs) == 1:
        return xs[0]
    return cx.emit1("concat", xs, {"axis": norm_dim(cx.get("dim", 0), xs[0].rank)})


@aten("stack")
def stack(cx: OpContext):
    dt = cx.out_dtype
    xs = [cx.tensor(t, dt) for t in cx["tensors"]]
    d = norm_dim(cx.get("dim", 0), xs[0].rank + 1)
    xs = [cx.reshape(x, list(x.shape[:d]) + [1] + list(x.shape[d:])) for x in xs]
    return xs[0] if len(xs) == 1 else cx.emit1("concat", xs, {"axis": d})


def _split(cx: OpContext, x: Val, sizes: list[int], dim) -> list[Val]:
    d = norm_dim(dim, x.rank)
    if len(sizes) == 1:
        return [x]
    return cx.emit("split", [x], {"axis": d, "split": sizes}, num_results=len(sizes))


@aten("split_with_sizes", "split_with_sizes_copy")
def split_with_sizes(cx: OpContext):
    return _split(cx, cx["self"], [int(s) for s in cx["split_sizes"]], cx.get("dim", 0))


@aten("split.Tensor", "split_copy.Tensor")
def split(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx.get("dim", 0), x.rank)
    n, k = x.shape[d], int(cx["split_size"])
    sizes = [k] * (n // k) + ([n % k] if n % k else [])
    return _split(cx, x, sizes or [0], d)


@aten("chunk")
def chunk(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx.get("dim", 0), x.rank)
    n, c = x.shape[d], int(cx["chunks"])
    k = -(-n // c)
    sizes = [k] * (n // k) + ([n % k] if n % k else [])
    return _split(cx, x, sizes, d)


@aten("unbind.int", "unbind_copy.int")
def unbind(cx: OpContext):
    x = cx["self"]
    d = norm_dim(cx.get("dim", 0), x.rank)
    parts = _split(cx, x, [1] * x.shape[d], d)
    return [cx.reshape(p, list(x.shape[:d]) + list(x.shape[d + 1:])) for p in parts]


def _index_tensor(cx: OpContext, idx: Val) -> Val:
    if idx.dtype.kind == "b":
        raise cx.unsupported("boolean-mask indexing (the result size depends on the data)")
    return cx.tensor(idx, np.int64) if idx.dtype not in (np.int32, np.int64) else idx


@aten("index_select")
def index_select(cx: OpContext):
    x = cx["self"]
    return cx.emit1("gather", [x, _index_tensor(cx, cx["index"])], {"axis": norm_dim(cx["dim"], x.rank)})


@aten("embedding")
def embedding(cx: OpContext):
    return cx.emit1("gather", [cx["weight"], _index_tensor(cx, cx["indices"])], {"axis": 0})


@aten("index.Tensor")
def index(cx: OpContext):
    x, indices = cx["self"], list(cx["indices"])
    present = [i for i, t in enumerate(indices) if t is not None]
    if len(present) != 1:
        raise cx.unsupported("advanced indexing with several index tensors")
    d = present[0]
    return cx.emit1("gather", [x, _index_tensor(cx, indices[d])], {"axis": d})


@aten("gather")
def gather(cx: OpContext):
    x = cx["self"]
    return cx.emit1("gather_elements", [x, _index_tensor(cx, cx["index"])], {"axis": norm_dim(cx["dim"], x.rank)})


@aten("repeat")
def repeat(cx: OpContext):
    x = cx["self"]
    reps = [int(r) for r in cx["repeats"]]
    x = cx.reshape(x, [1] * (len(reps) - x.rank) + list(x.shape))
    return x if all(r == 1 for r in reps) else cx.emit1("tile", [x], {"repeats": reps})


def _torch_pads(pad: list[int], rank: int) -> list[int]:
    """torch's (last dim first) [l, r, l, r, ...] → ONNX [begin..., end...] over all dims."""
    begin, end = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):
        begin[rank - 1 - i], end[rank - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    return begin + end


@aten("constant_pad_nd")
def constant_pad_nd(cx: OpContext):
    x = cx["self"]
    pads = _torch_pads(list(cx["pad"]), x.rank)
    if not any(pads):
        return x
    return cx.emit1("pad", [x], {"pads": pads, "mode": "constant", "constant_value": float(cx.get("value", 0.0))})


@aten("reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d",
      "replication_pad3d")
def mode_pad(cx: OpContext):
    x = cx["self"]
    mode = "reflect" if "reflection" in cx.op else "edge"
    return cx.emit1("pad", [x], {"pads": _torch_pads(list(cx["padding"]), x.rank), "mode": mode})


@aten("tril", "triu")
def trilu(cx: OpContext):
    return cx.emit1("trilu", [cx["self"]], {"upper": int(cx.op.startswith("aten.triu")), "k": int(cx.get("diagonal", 0))})


@aten("pixel_shuffle")
def pixel_shuffle(cx: OpContext):
    x = cx["self"]
    if x.rank != 4:
        raise cx.unsupported(f"rank-{x.rank} input (only N x C x H x W)")
    return cx.emit1("depth_to_space", [x], {"blocksize": int(cx["upscale_factor"]), "mode": "CRD"})
