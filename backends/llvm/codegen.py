"""llvm dialect → LLVM IR (xDSL's exporter + llvmlite) → optimized machine code.

The target is the host CPU with all its features by default (`cpu="host"`), or
a portable x86-64 baseline (`cpu="generic"`). The features used are recorded
so a package refuses to load on a CPU that lacks them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import llvmlite.binding as llvm
from xdsl.backend.llvm import convert_op as _xdsl_convert_op
from xdsl.backend.llvm.convert import convert_module
from xdsl.dialects.builtin import ModuleOp

from tensorc.dialects import cpu

# Teach xDSL's translator the casts its llvm dialect lacks (cpu.fptosi, ...).
_xdsl_convert_op._CAST_OP_NAMES.update(cpu.LLVM_CASTS)


@functools.cache
def _init_llvm() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@dataclass(frozen=True)
class TargetInfo:
    triple: str
    cpu_name: str
    features: str  # LLVM feature string, e.g. "+avx2,+fma,..."

    @property
    def required_features(self) -> list[str]:
        return sorted(f[1:] for f in self.features.split(",") if f.startswith("+"))


def host_target(cpu_kind: str = "host") -> TargetInfo:
    _init_llvm()
    triple = llvm.get_process_triple()
    if cpu_kind == "generic":
        return TargetInfo(triple, "x86-64" if triple.startswith("x86_64") else "generic", "")
    if cpu_kind != "host":
        raise ValueError(f"unknown --cpu '{cpu_kind}' (use host or generic)")
    return TargetInfo(triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


def target_machine(info: TargetInfo, reloc: str = "default"):
    _init_llvm()
    target = llvm.Target.from_triple(info.triple)
    return target.create_target_machine(cpu=info.cpu_name, features=info.features, opt=3, reloc=reloc, codemodel="default")


def to_llvm_ir(module: ModuleOp, info: TargetInfo) -> str:
    """The LLVM IR text of an llvm-dialect module, for the given target."""
    ir_module = convert_module(module, fallback_target_triple=info.triple)
    ir_module.triple = info.triple
    return str(ir_module)


def optimize(ir_text: str, tm) -> llvm.ModuleRef:
    """Parse, verify and run LLVM's O3 pipeline."""
    _init_llvm()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod
