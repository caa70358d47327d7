"""ATen coverage: small modules per op family through import_torch, on the reference interpreter and on
llvm-cpu, against torch eager."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import tensorc  # noqa: E402


TARGETS = ("reference", "llvm-cpu")


def check(module, *args, rtol=1e-4, targets=TARGETS, **kw):
    """Import once; the reference interpreter and the compiled CPU code both match torch eager."""
    module = module.eval()
    prog = tensorc.import_torch(module, args, **kw)
    feeds = {s.name: a.numpy() for s, a in zip(prog.signature.inputs, [a for a in args if isinstance(a, torch.Tensor)])}
    with torch.no_grad():
        ref = module(*args)
    ref = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else [ref])]
    for target in targets:
        got = list(tensorc.compile(prog, target=target)(**feeds).values())
        assert len(got) == len(ref)
        for i, (g, r) in enumerate(zip(got, ref)):
            what = f"{target}, output {i}"
            assert g.dtype == r.dtype and g.shape == r.shape, (what, g.dtype, g.shape, r.dtype, r.shape)
            scale = float(np.abs(r).max()) if r.size and r.dtype.kind == "f" else 1.0
            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * 1e-2 * (scale or 1.0), err_msg=what)
    return prog


class Fn(nn.Module):
    def __init__(self, fn, **children):
        super().__init__()
        self.fn = fn
        for k, v in children.items():
            setattr(self, k, v)

    def forward(self, *args):
        return self.fn(self, *args)


def rnd(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---- MLPs and activations -----------------------------------------------------------
def test_mlp_with_activations():
    m = Fn(lambda s, x: s.fc3(F.silu(s.fc2(F.hardswish(F.relu6(s.fc1(x) * 3))))).log_softmax(-1),
           fc1=nn.Linear(16, 32), fc2=nn.Linear(32, 32), fc3=nn.Linear(32, 10))
    prog = check(m, rnd(4, 16))
    assert {"tg.gemm", "tg.hard_swish", "tg.clip", "tg.sigmoid", "tg.log_softmax"} <= {op.name for op in prog.main.walk()}


@pytest.mark.parametrize("act", [
    nn.GELU(), nn.GELU(approximate="tanh"), nn.ELU(0.7), nn.SELU(), nn.CELU(1.3), nn.LeakyReLU(0.2), nn.Softplus(),
    nn.Softplus(beta=2.0), nn.Hardsigmoid(), nn.Mish(), nn.Tanh(), nn.Sigmoid(), nn.PReLU(4), nn.Softsign(),
    nn.Hardtanh(-2, 3), nn.LogSigmoid(),
], ids=lambda a: repr(a))
def test_activation(act):
    check(Fn(lambda s, x: s.act(x), act=act), rnd(2, 4, 5) * 3)


def test_elementwise_math_and_promotion():
    def f(s, x, i):
        y = torch.sqrt(x.abs() + 1) + torch.rsqrt(x * x + 1) - torch.exp(-x) * torch.log1p(x.abs())
        y = y + torch.erf(x) / (x.pow(2) + 1) + x.clamp(-0.5, 0.5) + torch.maximum(x, torch.zeros_like(x))
        z = i / 2 + i.float().sin() + (i // 3) + torch.remainder(i, 3) + x.floor() + x.round() + x.trunc()
        return y, z, (x > 0) & (i != 2), torch.where(x > 0.5, x, -x), i.sum(dtype=torch.int64)
    check(Fn(f), rnd(3, 4), torch.arange(12).reshape(3, 4))


# ---- CNNs ---------------------------------------------------------------------------
def test_conv_bn_pool_block():
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8), nn.BatchNorm2d(8), nn.Hardswish(),
        nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2, count_include_pad=False), nn.SiLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    with torch.no_grad():  # non-trivial running statistics
        for bn in (m[1], m[4]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    prog = check(m, rnd(2, 3, 33, 31))
    names = {op.name for op in prog.main.walk()}
    assert {"tg.conv", "tg.batch_normalization", "tg.max_pool", "tg.average_pool", "tg.reduce_mean"} <= names


def test_batch_norm_in_training_mode_module_is_imported_in_eval_mode():
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.fill_(0.3)
    bn.train()
    prog = tensorc.import_torch(bn, (rnd(2, 4, 3, 3),))
    assert bn.training  # restored
    got = tensorc.compile(prog)(rnd(2, 4, 3, 3).numpy())["output"]
    np.testing.assert_allclose(got, bn.eval()(rnd(2, 4, 3, 3)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (3, 5), (7, 7), 4])
def test_adaptive_avg_pool(out):
    check(Fn(lambda s, x: F.adaptive_avg_pool2d(x, out)), rnd(1, 3, 7, 10))


@pytest.mark.parametrize("out", [(1, 1), (2, 5), (3, 4)])
def test_adaptive_max_pool(out):
    check(Fn(lambda s, x: F.adaptive_max_pool2d(x, out)), rnd(2, 3, 6, 10))


def test_conv1d_conv_transpose_group_norm_upsample():
    def f(s, x, y):
        a = s.gn(s.convt(F.relu(s.conv(x))))
        b = F.interpolate(y, scale_factor=2, mode="nearest") + F.interpolate(y, size=(8, 8), mode="bilinear")
        return a, F.pad(b, (1, 2, 0, 1), value=0.5), F.pixel_shuffle(s.c2(b), 2), F.avg_pool1d(x, 3, 2, 1)
    check(Fn(f, conv=nn.Conv1d(4, 6, 3, padding=1), convt=nn.ConvTranspose1d(6, 4, 4, stride=2, padding=1),
             gn=nn.GroupNorm(2, 4), c2=nn.Conv2d(3, 8, 1)), rnd(2, 4, 9), rnd(1, 3, 4, 4))


# ---- transformers -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float", "gqa", "3d", "scale"])
def test_sdpa(kind):
    q, k, v = rnd(2, 4, 5, 8, seed=1), rnd(2, 4, 7, 8, seed=2), rnd(2, 4, 7, 6, seed=3)
    extra = {}
    if kind == "causal":
        k, v = k[:, :, :5], v[:, :, :5]
        extra = {"is_causal": True}
    elif kind == "bool":
        extra = {"attn_mask": torch.rand(5, 7, generator=torch.Generator().manual_seed(4)) > 0.3}
        extra["attn_mask"][:, 0] = True
    elif kind == "float":
        extra = {"attn_mask": rnd(2, 1, 5, 7, seed=5)}
    elif kind == "gqa":
        k, v = k[:, :2], v[:, :2]
        extra = {"enable_gqa": True}
    elif kind == "3d":
        q, k, v = q[0], k[0], v[0]
    elif kind == "scale":
        extra = {"scale": 0.3}
    mask = extra.pop("attn_mask", None)
    if mask is None:
        m = Fn(lambda s, q, k, v: F.scaled_dot_product_attention(q, k, v, **extra))
        prog = check(m, q, k, v)
    else:
        m = Fn(lambda s, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        prog = check(m, q, k, v, mask)
    assert "tg.attention" in {op.name for op in prog.main.walk()}


def test_transformer_layout_ops():
    """view/reshape/permute/expand/slice/cat/split/chunk/masked_fill/where, positions from arange."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = nn.Embedding(32, 12)
            self.register_buffer("mask", torch.tril(torch.ones(32, 32, dtype=torch.bool)))

        def forward(self, x):
            b, t, c = x.shape
            pos = torch.arange(t)
            x = x + self.pos(pos)[None]
            a, bb, cc = x.chunk(3, dim=-1)
            q, k = torch.split(torch.cat([a, bb], -1), [4, 4], dim=-1)
            att = (q @ k.transpose(1, 2)).masked_fill(~self.mask[:t, :t], float("-inf")).softmax(-1)
            y = (att @ cc).reshape(b * t, 4).view(b, t, 2, 2).permute(0, 2, 1, 3).contiguous()
            y = torch.where(y > 0, y, y * 0.1) + cc.unsqueeze(1)[..., :2].expand(b, 2, t, 2)
            z = torch.stack([x[:, 0], x[:, -1]], dim=1).flatten(1)
            return y, z, x[:, 1:t:2, ::3], x.unbind(0)[1], x.sum(-1).argmax(-1), x.amax(1), x.std(-1)
    prog = check(M(), rnd(2, 9, 12))
    text = str(prog)
    assert "tg.range" not in text and "@pos.weight" not in text  # positions folded into a constant


def test_einsum_and_matmul_forms():
    def f(s, a, b, v):
        return (torch.einsum("bij,bjk->bik", a, b), torch.einsum("bii->bi", a[:, :, :3][:, :3]),
                torch.einsum("i,i->", v, v), a @ b, torch.bmm(a, b), torch.mm(a[0], b[0]), a[0] @ v[:4],
                torch.addmm(v, a[1], b[1], beta=0.5, alpha=2.0))
    check(Fn(f), rnd(2, 3, 4, seed=1), rnd(2, 4, 5, seed=2), rnd(5, seed=3))


def test_layer_norm_rms_norm_embedding_and_gpt():
    from tensorc.tools.models import gpt

    check(Fn(lambda s, x: (s.ln(x), F.rms_norm(x, (8,), eps=1e-6), F.layer_norm(x, (4, 8))),
             ln=nn.LayerNorm(8)), rnd(2, 4, 8))
    prog = check(gpt.gpt2_tiny(depth=1), torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(0)))
    tied = [n for n in ("wte.weight", "lm_head.weight") if n in prog.weights]
    assert len(tied) == 1  # the tied embedding / head matrix is stored once, under one of its names


def test_reductions_and_norms():
    def f(s, x):
        return (x.mean((1, 2), keepdim=True), x.var(1, unbiased=False), F.normalize(x, dim=-1),
                torch.linalg.vector_norm(x, ord=3, dim=1), x.logsumexp(-1), x.cumsum(1), x.max(1).values,
                x.max(1).indices, x.topk(2, dim=-1).values, x.prod(-1), (x > 0).any(-1), (x > -3).all(),
                x.sort(-1, descending=True).values, x.sort(1).indices)
    check(Fn(f), rnd(2, 3, 4))


def test_dynamic_shapes_bind_to_the_examples():
    from tensorc.tools.models import gpt

    model = gpt.gpt2_tiny(depth=1)
    seq = torch.export.Dim("seq", max=64)
    ids = torch.randint(0, 512, (2, 10), generator=torch.Generator().manual_seed(0))
    prog = tensorc.import_torch(model, (ids,), dynamic_shapes={"idx": {1: seq}})
    assert prog.signature.inputs[0].shape == (2, 10)
    # the same ExportedProgram, bound to another length
    ep = torch.export.export(model, (ids,), dynamic_shapes={"idx": {1: seq}})
    ids7 = ids[:, :7]
    prog7 = tensorc.import_torch(ep, input_shapes={"idx": (2, 7)})
    got = tensorc.compile(prog7)(idx=ids7.numpy())["output"]
    with torch.no_grad():
        ref = model(ids7).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    assert math.prod(got.shape) == 2 * 7 * 512
