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


# ... and the vector ops it lacks (vector fcmp/icmp/select, extractelement): emitted with llvmlite.
def _emit_cpu_vector_op(op, builder, val_map) -> bool:
    from llvmlite import ir

    if isinstance(op, cpu.VFCmpOp):
        pred = op.predicate.data
        if pred in ("true", "false"):
            raise NotImplementedError("fcmp true/false on vectors")
        cmp = {"eq": "==", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "ne": "!="}.get(pred[1:], pred[1:])
        fn = builder.fcmp_ordered if pred[0] == "o" else builder.fcmp_unordered
        val_map[op.result] = fn(cmp, val_map[op.lhs], val_map[op.rhs])
    elif isinstance(op, cpu.VICmpOp):
        pred = op.predicate.data
        cmp = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[pred[-2:] if pred not in ("eq", "ne") else pred]
        fn = builder.icmp_signed if pred[0] == "s" or pred in ("eq", "ne") else builder.icmp_unsigned
        val_map[op.result] = fn(cmp, val_map[op.lhs], val_map[op.rhs])
    elif isinstance(op, cpu.VSelectOp):
        val_map[op.result] = builder.select(val_map[op.cond], val_map[op.lhs], val_map[op.rhs])
    elif isinstance(op, cpu.ExtractElementOp):
        val_map[op.result] = builder.extract_element(val_map[op.vector], ir.Constant(ir.IntType(32), op.lane.value.data))
    else:
        return False
    return True


def _convert_op_with_cpu(op, builder, val_map, block_map=None):
    if not _emit_cpu_vector_op(op, builder, val_map):
        _xdsl_convert_op_fn(op, builder, val_map, block_map)


import xdsl.backend.llvm.convert as _xdsl_convert  # noqa: E402

_xdsl_convert_op_fn = _xdsl_convert_op.convert_op
_xdsl_convert.convert_op = _convert_op_with_cpu


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
    # xDSL's exporter drops function linkage: kernels are internal (LLVM may drop them once inlined)
    from xdsl.dialects import llvm as _llvm

    for op in module.ops:
        if isinstance(op, _llvm.FuncOp) and op.body.blocks and op.linkage.linkage.data == "internal":
            ir_module.get_global(op.sym_name.data).linkage = "internal"
    # functions shared by many kernels (microkernels with run-time sizes) stay out of line
    shared = module.attributes.get("cpu.noinline")
    for name in (shared.data if shared is not None else ()):
        ir_module.get_global(name.data).attributes.add("noinline")
    return str(ir_module)


def optimize(ir_text: str, tm) -> llvm.ModuleRef:
    """Parse, verify and run LLVM's O3 pipeline."""
    _init_llvm()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    if "tc_parallel" in ir_text:  # kernels on several threads: link the thread pool (parallel.py)
        from .parallel import pool_ir

        pool = llvm.parse_assembly(pool_ir(tm.triple))
        pool.verify()
        mod.link_in(pool)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def required_libraries(module: ModuleOp) -> list[str]:
    """Shared libraries the code of an llvm-dialect module needs besides libc and libm:
    none (the thread pool is linked into the module; it calls pthread_create, which is
    in libc since glibc 2.34 — older systems need `-lpthread`, harmless elsewhere)."""
    return []
