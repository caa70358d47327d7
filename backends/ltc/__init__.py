"""The LUT Tensor Core backend: tg/lut/mem programs → the core's instruction stream (docs/ltc.md,
"Compiler"). The ISA, the assembler and the emitter API are tensorc.ltc; the simulator is
tensorc.runtime.ltc.

    from tensorc.backends.ltc import compile_ltc
    c = compile_ltc(prog)                       # LTCCompiled: .program (.ltc), .stream (ltc dialect)
    c.program.save("m.ltc")
    exe = tensorc.compile(prog, target="ltc")   # callable; runs the simulator, exe.last_report
"""

from .compile import LTCCompiled, compile_ltc, plan_memory, prepare_program
from .executable import LTCExecutable

__all__ = ["LTCCompiled", "compile_ltc", "plan_memory", "prepare_program", "LTCExecutable"]
