"""Activation kernels and the softmax family."""

from __future__ import annotations

import numpy as np

from . import kernel
from ._common import attr, erf, fl, norm_axis, wide


def _act(name, fn):
    def k(inputs, attrs, outs):
        return [fn(fl(inputs[0]), attrs)]

    kernel(name)(k)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


@kernel("relu")
def _relu(inputs, attrs, outs):
    x = wide(inputs[0])
    return [np.where(x > 0, x, np.zeros((), x.dtype)) if x.dtype.kind != "f" else np.maximum(x, x.dtype.type(0))]


def _gelu(x, attrs):
    if attr(attrs, "approximate", "none") == "tanh":
        x64 = x.astype(np.float64)
        return 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)))
    x64 = x.astype(np.float64)
    return 0.5 * x64 * (1 + erf(x64 / np.sqrt(2.0)))


_ACTS = {
    "sigmoid": lambda x, a: _sigmoid(x),
    "tanh": lambda x, a: np.tanh(x),
    "softplus": lambda x, a: _softplus(x),
    "softsign": lambda x, a: x / (1 + np.abs(x)),
    "mish": lambda x, a: x * np.tanh(_softplus(x)),
    "hard_swish": lambda x, a: x * np.clip(x * (1 / 6) + 0.5, 0, 1),
    "leaky_relu": lambda x, a: np.where(x < 0, x * float(attr(a, "alpha", 0.01)), x),
    "elu": lambda x, a: np.where(x < 0, float(attr(a, "alpha", 1.0)) * np.expm1(x), x),
    "selu": lambda x, a: float(attr(a, "gamma", 1.05070102214813232421875))
    * np.where(x <= 0, float(attr(a, "alpha", 1.67326319217681884765625)) * np.expm1(x), x),
    "celu": lambda x, a: np.maximum(x, 0)
    + np.minimum(0, float(attr(a, "alpha", 1.0)) * np.expm1(x / float(attr(a, "alpha", 1.0)))),
    "hard_sigmoid": lambda x, a: np.clip(float(attr(a, "alpha", 0.2)) * x + float(attr(a, "beta", 0.5)), 0, 1),
    "thresholded_relu": lambda x, a: np.where(x > float(attr(a, "alpha", 1.0)), x, 0),
    "gelu": _gelu,
}
for _n, _f in _ACTS.items():
    _act(_n, _f)


@kernel("shrink")
def _shrink(inputs, attrs, outs):
    x = fl(inputs[0])  # ints go through float64
    bias = float(attr(attrs, "bias", 0.0))
    lambd = float(attr(attrs, "lambd", 0.5))
    return [np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype)]


# ---- softmax family (opset-13 semantics: along one axis) ------------------------
def _axis(attrs, x):
    return norm_axis(attr(attrs, "axis", -1), x.ndim)


@kernel("softmax")
def _softmax(inputs, attrs, outs):
    x = fl(inputs[0])
    ax = _axis(attrs, x)
    m = np.max(x, axis=ax, keepdims=True) if x.size else x
    e = np.exp(x - m)
    return [e / np.sum(e, axis=ax, keepdims=True)]


@kernel("log_softmax")
def _log_softmax(inputs, attrs, outs):
    x = fl(inputs[0])
    ax = _axis(attrs, x)
    m = np.max(x, axis=ax, keepdims=True) if x.size else x
    s = x - m
    return [s - np.log(np.sum(np.exp(s), axis=ax, keepdims=True))]


@kernel("hardmax")
def _hardmax(inputs, attrs, outs):
    x = wide(inputs[0])
    ax = _axis(attrs, x)
    if x.size == 0:
        return [np.zeros_like(x)]
    idx = np.expand_dims(np.argmax(x, axis=ax), ax)
    r = np.arange(x.shape[ax]).reshape([-1 if i == ax else 1 for i in range(x.ndim)])
    return [(idx == r).astype(x.dtype)]
