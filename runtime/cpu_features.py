"""Which CPU features a package needs, and whether this CPU has them (stdlib only).

The compiler names features the way LLVM does (`avx512f`, `sse4.2`, `fma`);
Linux names them in the `flags` line of /proc/cpuinfo (`avx512f`, `sse4_2`,
`fma`). `CPUINFO_FLAG` maps one to the other. A package records, as its required
features, exactly the LLVM features of its target that are in this table: those
the loader can check. Of the features LLVM enables for the host, the rest are
either instructions that generated code never uses without explicit intrinsics
(`NOT_USED_BY_CODEGEN`: xsave, rdrand, clflushopt, ...), which are kept and not
required, or features we cannot check, which the package build turns off
(`-feature`) so the code cannot use them (`package_target_features`).

x86-64 baseline features (sse2, cmov, ...) are implied by the triple: a
`--cpu generic` package requires no features at all.

The table is for x86 only. On other architectures a host build keeps all its
features and requires all of them, which the loader cannot check and so refuses:
there, portable packages come from `--cpu generic`.
"""

from __future__ import annotations

import os
import platform
import sys

# LLVM feature name → /proc/cpuinfo flag (x86). Only these can be required.
CPUINFO_FLAG: dict[str, str] = {
    "64bit": "lm",
    "cmov": "cmov",
    "cx8": "cx8",
    "fxsr": "fxsr",
    "mmx": "mmx",
    "sse": "sse",
    "sse2": "sse2",
    "sse3": "pni",
    "ssse3": "ssse3",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
    "crc32": "sse4_2",  # the crc32 instruction is part of SSE4.2
    "sse4a": "sse4a",
    "popcnt": "popcnt",
    "lzcnt": "abm",
    "cx16": "cx16",
    "sahf": "lahf_lm",
    "movbe": "movbe",
    "prfchw": "3dnowprefetch",
    "bmi": "bmi1",
    "bmi2": "bmi2",
    "adx": "adx",
    "tbm": "tbm",
    "aes": "aes",
    "pclmul": "pclmulqdq",
    "sha": "sha_ni",
    "gfni": "gfni",
    "vaes": "vaes",
    "vpclmulqdq": "vpclmulqdq",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "fma4": "fma4",
    "xop": "xop",
    "f16c": "f16c",
    "avxvnni": "avx_vnni",
    "avx512f": "avx512f",
    "evex512": "avx512f",  # 512-bit EVEX vectors: every AVX-512F CPU has them
    "avx512cd": "avx512cd",
    "avx512dq": "avx512dq",
    "avx512bw": "avx512bw",
    "avx512vl": "avx512vl",
    "avx512ifma": "avx512ifma",
    "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2",
    "avx512vnni": "avx512_vnni",
    "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq",
    "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16",
    "avx512vp2intersect": "avx512_vp2intersect",
    "amx-tile": "amx_tile",
    "amx-bf16": "amx_bf16",
    "amx-int8": "amx_int8",
    "amx-fp16": "amx_fp16",
}

# Enabled for the host by LLVM, but instructions that code generated from our IR
# never contains (system, cache-control, random-number, TSX, ... instructions are
# only emitted for explicit intrinsics). Kept on, not required.
NOT_USED_BY_CODEGEN = frozenset(
    """
    xsave xsaveopt xsavec xsaves fsgsbase invpcid rdpid rdrnd rdseed rdpru
    clflushopt clwb clzero cldemote shstk sgx mwaitx monitor wbnoinvd pku
    ptwrite waitpkg movdiri movdir64b enqcmd serialize tsxldtrk uintr hreset
    kl widekl pconfig rtm lwp prefetchi prefetchwt1 usermsr raoint cmpccxadd
    movrs
    """.split()
)


def is_x86(triple: str) -> bool:
    arch = triple.split("-")[0].lower()
    return arch in ("x86_64", "amd64", "x86", "i386", "i486", "i586", "i686")


def package_target_features(llvm_features: str, triple: str = "x86_64") -> tuple[str, list[str]]:
    """(feature string to build a package with, sorted features the package requires).

    On x86, every `+f` of the host's LLVM feature string is kept and required if
    we can check it, kept and not required if codegen never uses it, and
    otherwise turned off. `-f` entries stay as they are. Elsewhere, every `+f` is
    kept and required (see the module docstring).
    """
    items = [s.strip() for s in llvm_features.split(",") if s.strip()]
    if not is_x86(triple):
        return ",".join(items), sorted({i[1:] for i in items if i[0] == "+"})
    out, required = [], set()
    for item in items:
        sign, name = item[0], item[1:]
        if sign != "+":
            out.append(item)
        elif name in CPUINFO_FLAG:
            out.append(item)
            required.add(name)
        elif name in NOT_USED_BY_CODEGEN:
            out.append(item)
        else:
            out.append("-" + name)
    return ",".join(out), sorted(required)


def host_flags() -> set[str] | None:
    """The CPU flags of this machine from /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        return None
    return None


def missing_features(required, flags: set[str] | None = None, triple: str = "x86_64") -> tuple[list[str], list[str]]:
    """(required features this CPU lacks, required features that cannot be checked here)."""
    required = list(required)
    if not required:
        return [], []
    if flags is None:
        flags = host_flags()
    if flags is None or not is_x86(triple):
        return [], sorted(required)
    missing, unknown = [], []
    for feat in required:
        flag = CPUINFO_FLAG.get(feat)
        if flag is None:
            unknown.append(feat)
        elif flag not in flags:
            missing.append(feat)
    return sorted(missing), sorted(unknown)


_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i686": "i386", "i586": "i386"}


def host_arch_os() -> tuple[str, str]:
    """(architecture, os) of this process in LLVM triple spelling, e.g. ('x86_64', 'linux')."""
    machine = platform.machine().lower()
    arch = _ARCH_ALIASES.get(machine, machine)
    osname = "linux" if sys.platform.startswith("linux") else ("darwin" if sys.platform == "darwin" else sys.platform)
    return arch, osname


def triple_runs_here(triple: str) -> bool:
    """Whether code for this LLVM target triple (arch-vendor-os[-env]) can run in this process."""
    parts = triple.split("-")
    arch = _ARCH_ALIASES.get(parts[0].lower(), parts[0].lower())
    host_arch, host_os = host_arch_os()
    return arch == host_arch and any(p.startswith(host_os) for p in parts[1:]) and os.name == "posix"
