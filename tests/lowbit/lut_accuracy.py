"""Prints docs/lut.md's accuracy table: NMSE of int8-table LUT-mpGEMM against dequantize-then-matmul.

    .venv/bin/python tests/lowbit/lut_accuracy.py

Gaussian x [16, 4096] and W [1024, 4096], RTN-quantized with each spec; act_group 64; the
reference kernels (tensorc.quant.lut). About 15 s.
"""

import numpy as np

from tensorc.quant import lut as L
from tensorc.quant.lowbit import quantize_rtn

SPECS = ("w1g128", "w2g64", "w2g128", "w3g128", "w4g128", "w4g128s", "ternary")
FORMS = ("unsigned", "signed", "half")


def main(k=4096, n=1024, m=16, act_group=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    print("| spec | " + " | ".join(FORMS) + " |\n|---|" + "---|" * len(FORMS))
    for spec in SPECS:
        qw = quantize_rtn(w, spec)
        ref = x.astype(np.float64) @ qw.dequantize().astype(np.float64).T
        row = []
        for form in FORMS:
            t, ts = L.precompute(x, k, form, "i8", act_group)
            y = L.mpgemm(t, ts, L.planes_from_codes(qw.codes, qw.bits, form), qw.scales, qw.zeros, k=k, n=n,
                         bits=qw.bits, group=qw.group, act_group=act_group, form=form)
            row.append(f"{np.mean((y - ref) ** 2) / np.mean(ref ** 2):.1e}")
        print(f"| {spec} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
