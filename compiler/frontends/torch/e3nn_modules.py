"""e3nn modules as eqv ops: `o3.TensorProduct` (and its subclasses FullTensorProduct,
FullyConnectedTensorProduct, ElementwiseTensorProduct, TensorSquare), `o3.Linear` and
`o3.SphericalHarmonics` / `o3.spherical_harmonics` (docs/torch.md, "e3nn").

torch.export would trace these modules into hundreds of ATen ops (e3nn generates their
forward code with torch.fx), losing the structure the eqv passes need. So they are *leaf
modules*, the way torch.export users keep a block whole: while `export` runs, the
forwards of these classes are replaced by a call of one `torch.library` custom op
(`tensorc_e3nn::tensor_product`, `::linear`, `::spherical_harmonics`). The op carries the
module's configuration as a JSON string argument (irreps, instructions with e3nn's final
path weights, normalizations) and its weights as tensor arguments, so the exported graph
is self-contained (a saved .pt2 imports without the model's code); its fake
implementation gives the output shape, its eager one is the numpy reference of the eqv op.
The importer converts each such node into one eqv op.

A configuration eqv has no op for (per-sample weights, modes 'uvu<v'/'u<vw', Linear with
f_in/f_out, pseudovector spherical harmonics) is an error naming the module.
Nothing here imports e3nn: the patch applies only when the model's process already did.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import numpy as np
import torch

from tensorc.diagnostics import ImportError_

NAMESPACE = "tensorc_e3nn"
SUPPORTED_MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv")


class E3nnConfigError(ImportError_):
    """An e3nn module configured in a way eqv has no op for."""


# ---- the custom ops ------------------------------------------------------------------------
def _batch(*shapes) -> tuple[int, ...]:
    return tuple(torch.broadcast_shapes(*[torch.Size(s[:-1]) for s in shapes]))


@torch.library.custom_op(f"{NAMESPACE}::tensor_product", mutates_args=())
def tensor_product(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, config: str) -> torch.Tensor:
    from tensorc.eqv import reference as R

    cfg = json.loads(config)
    paths = [R.Path(*p) for p in cfg["paths"]]
    w = weight.detach().double().numpy() if weight.numel() else None
    out = R.cg_tp(x.detach().double().numpy(), y.detach().double().numpy(), cfg["irreps_in1"], cfg["irreps_in2"],
                  cfg["irreps_out"], paths, w)
    return torch.from_numpy(out).to(x.dtype)


@tensor_product.register_fake
def _(x, y, weight, config):
    from tensorc.eqv.irreps import Irreps

    dim = Irreps(json.loads(config)["irreps_out"]).dim
    return x.new_empty(_batch(x.shape, y.shape) + (dim,))


@torch.library.custom_op(f"{NAMESPACE}::linear", mutates_args=())
def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, config: str) -> torch.Tensor:
    from tensorc.eqv import reference as R

    cfg = json.loads(config)
    out = R.linear(x.detach().double().numpy(), cfg["irreps_in"], cfg["irreps_out"], [tuple(p) for p in cfg["paths"]],
                   weight.detach().double().numpy())
    out = out + _bias_vector(cfg, bias.detach().double().numpy())
    return torch.from_numpy(out).to(x.dtype)


@linear.register_fake
def _(x, weight, bias, config):
    from tensorc.eqv.irreps import Irreps

    return x.new_empty(tuple(x.shape[:-1]) + (Irreps(json.loads(config)["irreps_out"]).dim,))


@torch.library.custom_op(f"{NAMESPACE}::spherical_harmonics", mutates_args=())
def spherical_harmonics(x: torch.Tensor, config: str) -> torch.Tensor:
    from tensorc.eqv import reference as R

    cfg = json.loads(config)
    out = R.spherical_harmonics(x.detach().double().numpy(), cfg["irreps_out"], cfg["normalize"], cfg["normalization"])
    return torch.from_numpy(out).to(x.dtype)


@spherical_harmonics.register_fake
def _(x, config):
    from tensorc.eqv.irreps import Irreps

    return x.new_empty(tuple(x.shape[:-1]) + (Irreps(json.loads(config)["irreps_out"]).dim,))


def _bias_vector(cfg, bias: np.ndarray) -> np.ndarray:
    """e3nn Linear's flat biases placed on the output entries they belong to (zeros elsewhere)."""
    from tensorc.eqv.irreps import Irreps

    io = Irreps(cfg["irreps_out"])
    full = np.zeros(io.dim, dtype=bias.dtype)
    off = 0
    for k in cfg["bias_entries"]:
        sl = io.slices()[k]
        full[sl] = bias[off : off + io[k].dim]
        off += io[k].dim
    return full


# ---- module configurations ------------------------------------------------------------------
def _tp_config(m, name: str) -> str:
    kind = f"e3nn o3.{type(m).__name__} '{name}'"
    if not m.shared_weights:
        raise E3nnConfigError(f"{kind}: per-sample weights (shared_weights=False) are not supported; eqv products share their weights")
    paths = []
    for ins in m.instructions:
        if ins.connection_mode not in SUPPORTED_MODES:
            raise E3nnConfigError(f"{kind}: connection mode '{ins.connection_mode}' is not supported (eqv has {', '.join(SUPPORTED_MODES)})")
        paths.append([int(ins.i_in1), int(ins.i_in2), int(ins.i_out), str(ins.connection_mode), bool(ins.has_weight),
                      float(ins.path_weight)])
    return json.dumps({"irreps_in1": str(m.irreps_in1), "irreps_in2": str(m.irreps_in2), "irreps_out": str(m.irreps_out),
                       "paths": paths, "module": name, "class": type(m).__name__})


def _linear_config(m, name: str) -> str:
    kind = f"e3nn o3.Linear '{name}'"
    if not m.shared_weights:
        raise E3nnConfigError(f"{kind}: per-sample weights (shared_weights=False) are not supported")
    paths = [[int(i.i_in), int(i.i_out), float(i.path_weight)] for i in m.instructions if i.i_in != -1]
    bias_entries = [int(i.i_out) for i in m.instructions if i.i_in == -1]
    if any(float(i.path_weight) != 1.0 for i in m.instructions if i.i_in == -1):
        raise E3nnConfigError(f"{kind}: scaled biases are not supported")
    return json.dumps({"irreps_in": str(m.irreps_in), "irreps_out": str(m.irreps_out), "paths": paths,
                       "bias_entries": bias_entries, "module": name})


def _sh_config(m, name: str) -> str:
    kind = f"e3nn o3.SphericalHarmonics '{name}'"
    if m.irreps_in[0].ir.p != -1:
        raise E3nnConfigError(f"{kind}: spherical harmonics of a pseudovector (irreps_in 1e) are not supported")
    irreps_out = "+".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in m._ls_list)
    return json.dumps({"irreps_out": irreps_out, "normalize": bool(m.normalize), "normalization": str(m.normalization),
                       "module": name})


# ---- the patch that makes them leaves -------------------------------------------------------
@contextlib.contextmanager
def as_leaf_ops(model: Any):
    """While active, e3nn modules (any instance, in `model` or made on the fly such as the one
    inside `o3.spherical_harmonics`) call the tensorc_e3nn custom ops instead of their forward."""
    if "e3nn" not in sys.modules:  # the model does not use e3nn: nothing to patch
        yield
        return
    try:
        from e3nn import o3
    except ImportError:  # a broken e3nn install: export traces as it would without us
        yield
        return
    names = {id(m): n for n, m in model.named_modules()} if isinstance(model, torch.nn.Module) else {}

    def name_of(m) -> str:
        n = names.get(id(m))
        if n is None:  # e.g. the SphericalHarmonics that o3.spherical_harmonics makes per call
            return f"<{type(m).__name__} made in forward>"
        return n or "<the exported module>"

    def config(m, make) -> str:
        cached = m.__dict__.get("_tensorc_e3nn_config")
        if cached is None:
            cached = make(m, name_of(m))
            m.__dict__["_tensorc_e3nn_config"] = cached
        return cached

    def tp_forward(self, x, y, weight=None):
        cfg = config(self, _tp_config)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise E3nnConfigError(f"e3nn o3.{type(self).__name__} '{name_of(self)}': weights must be given (internal_weights=False)")
            weight = self.weight if self.weight_numel > 0 else x.new_zeros(0)
        elif isinstance(weight, (list, tuple)):
            weight = self._prep_weights_python(weight)
        if weight.dim() != 1:
            raise E3nnConfigError(f"e3nn o3.{type(self).__name__} '{name_of(self)}': per-sample weights of shape "
                                  f"{list(weight.shape)} are not supported; eqv products share their weights")
        return torch.ops.tensorc_e3nn.tensor_product(x, y, weight, cfg)

    def linear_forward(self, features, weight=None, bias=None):
        cfg = config(self, _linear_config)
        weight = self.weight if weight is None else weight
        bias = self.bias if bias is None else bias
        if weight.dim() != 1 or bias.dim() > 1:
            raise E3nnConfigError(f"e3nn o3.Linear '{name_of(self)}': weights of shape {list(weight.shape)} (per-sample, "
                                  "or the f_in/f_out form) are not supported")
        return torch.ops.tensorc_e3nn.linear(features, weight, bias.reshape(-1), cfg)

    def sh_forward(self, x):
        return torch.ops.tensorc_e3nn.spherical_harmonics(x, config(self, _sh_config))

    saved = [(o3.TensorProduct, "forward", o3.TensorProduct.forward), (o3.Linear, "forward", o3.Linear.forward),
             (o3.SphericalHarmonics, "forward", o3.SphericalHarmonics.forward)]
    o3.TensorProduct.forward = tp_forward
    o3.Linear.forward = linear_forward
    o3.SphericalHarmonics.forward = sh_forward
    try:
        yield
    finally:
        for cls, attr, fn in saved:
            setattr(cls, attr, fn)
        if isinstance(model, torch.nn.Module):
            for m in model.modules():
                m.__dict__.pop("_tensorc_e3nn_config", None)


# ---- the converters (registered into the importer's table) -----------------------------------
def _convert_tp(cx):
    from tensorc.dialects.eqv import CGTensorProductOp
    from tensorc.eqv import reference as R
    from tensorc.eqv.irreps import Irreps

    cfg = json.loads(cx["config"])
    x, y, w = cx["x"], cx["y"], cx["weight"]
    i1, i2, io = Irreps(cfg["irreps_in1"]), Irreps(cfg["irreps_in2"]), Irreps(cfg["irreps_out"])
    paths = [R.Path(*p) for p in cfg["paths"]]
    dt = x.dtype
    operands = [x, cx.cast(y, dt)]
    if R.weight_numel(paths, i1, i2, io):
        operands.append(cx.cast(w, dt))
    return _emit_eqv(cx, CGTensorProductOp, operands, {"irreps_in1": i1, "irreps_in2": i2, "irreps_out": io, "paths": paths})


def _convert_linear(cx):
    from tensorc.dialects.eqv import LinearOp
    from tensorc.eqv.irreps import Irreps

    cfg = json.loads(cx["config"])
    x, w, bias = cx["x"], cx["weight"], cx["bias"]
    attrs = {"irreps_in": Irreps(cfg["irreps_in"]), "irreps_out": Irreps(cfg["irreps_out"]),
             "paths": [v for i, j, _ in cfg["paths"] for v in (int(i), int(j))], "coeffs": [float(c) for *_, c in cfg["paths"]]}
    out = _emit_eqv(cx, LinearOp, [x, cx.cast(w, x.dtype)], attrs)
    if cfg["bias_entries"]:
        from tensorc.frontends.builder import Val

        b = cx.const(bias, "the bias of an e3nn Linear")
        full = _bias_vector(cfg, np.asarray(b)).astype(x.dtype)
        out = cx.emit1("add", [out, Val(f"{cfg['module']}.bias", const=full, named=True)])
    return out


def _convert_sh(cx):
    from tensorc.dialects.eqv import SphericalHarmonicsOp
    from tensorc.eqv.irreps import Irreps

    cfg = json.loads(cx["config"])
    attrs = {"irreps_out": Irreps(cfg["irreps_out"]), "normalize": int(cfg["normalize"]), "normalization": cfg["normalization"]}
    return _emit_eqv(cx, SphericalHarmonicsOp, [cx["x"]], attrs)


def _emit_eqv(cx, cls, operands, attrs):
    """One eqv op (never folded: its operands are run-time values or weights)."""
    from tensorc.frontends.builder import Val

    imp = cx.imp
    ssa = [imp.materialize(o) for o in operands]
    op = cls.make_op(ssa, attrs, src=cx.src)
    op.verify()
    imp.block.add_op(op)
    return Val("", ssa=op.results[0])


def register(table: dict) -> None:
    table[f"{NAMESPACE}.tensor_product.default"] = _convert_tp
    table[f"{NAMESPACE}.linear.default"] = _convert_linear
    table[f"{NAMESPACE}.spherical_harmonics.default"] = _convert_sh
