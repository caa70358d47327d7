"""tensorc.eqv — equivariant tensor products: irreps, numpy references, the builder.

Submodules (numpy only, importable from anywhere in tensorc):
  irreps     Irrep / Irreps in e3nn's mul_ir layout
  so3        real spherical harmonics, wigner_3j (e3nn's), Gaunt factors, Wigner-D
  fourier    the exact Fourier and sphere-grid routes of the Gaunt product
  reference  numpy references of every eqv op (e3nn's definitions)
  legality   the exact cg-to-gaunt legality analysis (masked CP rank, channels, odd paths)
  cost       the cost model of the lowered CG and Gaunt products
  builder    `Builder`: eqv programs from Python (imports xDSL)
"""

from tensorc.eqv.irreps import Irrep, Irreps

_LAZY = {
    "Builder": "builder", "Feature": "builder", "full_tp_instructions": "builder",
    "fully_connected_instructions": "builder", "channelwise_instructions": "builder",
    "make_paths": "builder", "gaunt_equivalent_weights": "builder",
    "Path": "reference",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'tensorc.eqv' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(f"tensorc.eqv.{mod}"), name)


__all__ = ["Irrep", "Irreps", *_LAZY]
