"""Reference kernels of the eqv ops: tensorc.eqv.reference in float64, cast back by the wrapper."""

from __future__ import annotations

import numpy as np

from tensorc.eqv import reference as R

from . import kernel


@kernel("eqv.spherical_harmonics")
def spherical_harmonics(inputs, attrs, outs):
    return [R.spherical_harmonics(inputs[0], attrs["irreps_out"], bool(attrs["normalize"]), attrs["normalization"])]


@kernel("eqv.cg_tp")
def cg_tp(inputs, attrs, outs):
    w = inputs[2] if len(inputs) > 2 else None
    return [R.cg_tp(inputs[0], inputs[1], attrs["irreps_in1"], attrs["irreps_in2"], attrs["irreps_out"], attrs["paths"], w)]


@kernel("eqv.gaunt_tp")
def gaunt_tp(inputs, attrs, outs):
    x1, x2, a, b, c = inputs
    return [R.gaunt_tp(x1, x2, a, b, c, attrs["irreps_in1"], attrs["irreps_in2"], attrs["irreps_out"], attrs["method"])]


@kernel("eqv.linear")
def linear(inputs, attrs, outs):
    return [R.linear(inputs[0], attrs["irreps_in"], attrs["irreps_out"], attrs["paths"], np.asarray(inputs[1]))]
