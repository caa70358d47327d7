"""Writes PREFIX.npz (weights of mpgemm-weights.mlir: three 4-bit/2-bit/ternary layers) and PREFIX.x.npy."""

import sys

import numpy as np

from tensorc.pipeline import save_weights
from tensorc.program import WeightStore
from tensorc.quant.lowbit import quantize_rtn

prefix = sys.argv[1]
rng = np.random.default_rng(0)
store = WeightStore()
for name, spec in (("q", "w4g32"), ("k", "w2g32"), ("v", "ternaryg32")):
    qw = quantize_rtn(rng.standard_normal((16, 64)).astype(np.float32), spec)
    store.add(f"{name}.codes", qw.packed())
    store.add(f"{name}.scales", qw.scales)
    store.add(f"{name}.zeros", qw.zeros)
store.add("gamma", np.ones(64, np.float32))
save_weights(prefix + ".npz", store)
np.save(prefix + ".x.npy", rng.standard_normal((1, 2, 64)).astype(np.float32))
