"""The LUT Tensor Core target's compiler side: assembler, disassembler, program emitter, kernels.

- `isa`: the instruction set (re-exported from tensorc.runtime.ltc.isa, its one definition)
- `asm`: text assembly ↔ programs (`assemble`, `disassemble`, `parse_instr`, `format_instr`)
- `builder`: `ProgramBuilder` (the emitter API), `Ref`, `DramTensor`, `SpadAllocator`
- `kernels`: `emit_lut_linear` (tiled LUT matmul), `plan_linear`, `place_weight`

The simulator is tensorc.runtime.ltc (`simulate`, `read_program`, `LTCConfig`). See docs/ltc.md.
"""

from tensorc.runtime.ltc import LTCConfig, LTCProgram, load_config, read_program, simulate

from .asm import assemble, disassemble, format_instr, parse_instr
from .builder import DramTensor, ProgramBuilder, Ref, SpadAllocator
from .kernels import LinearTiling, emit_lut_linear, place_weight, plan_linear

__all__ = ["LTCConfig", "LTCProgram", "load_config", "read_program", "simulate", "assemble", "disassemble",
           "format_instr", "parse_instr", "DramTensor", "ProgramBuilder", "Ref", "SpadAllocator",
           "LinearTiling", "emit_lut_linear", "place_weight", "plan_linear"]
