"""The xDSL context with every dialect tensorc uses registered."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import get_all_dialects


def make_context() -> Context:
    """All of xDSL's dialects plus tensorc's own, loaded lazily by name."""
    ctx = Context(allow_unregistered=False)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    for name, factory in tensorc_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def tensorc_dialects():
    """tensorc's dialects by name; each new dialect registers here."""

    def tg():
        from tensorc.dialects.tg import TG

        return TG

    def cpu():
        from tensorc.dialects.cpu import CPU

        return CPU

    def bfp():
        from tensorc.dialects.bfp import BFP

        return BFP

    def eqv():
        from tensorc.dialects.eqv import EQV

        return EQV

    def mem():
        from tensorc.dialects.mem import MEM

        return MEM

    def lut():
        from tensorc.dialects.lut import LUT

        return LUT

    def ltc():
        from tensorc.dialects.ltc import LTC

        return LTC

    return {"tg": tg, "cpu": cpu, "bfp": bfp, "eqv": eqv, "mem": mem, "lut": lut, "ltc": ltc}
