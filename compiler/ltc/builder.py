"""The Python emitter API for LUT Tensor Core programs (what the tg/lut/mem backend calls).

    from tensorc.ltc import ProgramBuilder, Ref
    b = ProgramBuilder()                                   # the default core's scratchpad
    x = b.input("x", (1, 4096), "i8")                       # DRAM tensors: inputs, outputs,
    y = b.output("y", (1, 4096), "f32")                     #   constants (weights) and scratch
    w = b.constant("w.planes", packed_bytes)
    xs = b.spad.alloc(4096)                                # scratchpad offsets (or COSMA's)
    b.dma_load(spad=xs, dram=x.addr, row_bytes=4096)
    b.precompute(Ref(xs, 4096, "i8"), m=1, k=4096, tab=..., ts=..., table_type="i16", form="half", act_group=64)
    ...
    prog = b.build()                                       # LTCProgram: .save("m.ltc"), simulate(prog, ...)

Every method emits one instruction and checks it at once (field ranges, alignment, shapes, the
scratchpad bounds), so a mistake fails at the call that made it. `emit(op, **fields)` is the
generic form (field names as in docs/ltc.md §3); the named methods fill the obvious defaults
(dense strides, element types) and take 2-D scratchpad operands as `Ref(addr, stride, dtype)`.
Nothing here schedules: the core's scoreboard overlaps independent instructions by itself, so
double buffering is a matter of alternating buffers (see kernels.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.config import LTCConfig
from tensorc.runtime.ltc.errors import LTCFormatError
from tensorc.runtime.ltc.program import TENSOR_DTYPES, LTCProgram, Segment, TensorInfo


class Ref(NamedTuple):
    """A 2-D scratchpad operand: byte address, bytes between rows, storage type."""

    addr: int
    stride: int
    dt: str

    def row(self, r: int) -> "Ref":
        return Ref(self.addr + r * self.stride, self.stride, self.dt)

    def col(self, c: int) -> "Ref":
        return Ref(self.addr + c * isa.itemsize(self.dt), self.stride, self.dt)


@dataclass(frozen=True)
class DramTensor:
    name: str
    addr: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * isa.itemsize(self.dtype)

    @property
    def row_bytes(self) -> int:
        return (self.shape[-1] if self.shape else 1) * isa.itemsize(self.dtype)


class SpadAllocator:
    """First-fit allocation of scratchpad bytes, for hand-written programs and kernels (the backend
    places tensors where the COSMA plan says instead)."""

    def __init__(self, size: int, base: int = 0):
        self.size, self.base = size, base
        self.live: dict[int, int] = {}  # addr -> bytes
        self.high_water = base

    def alloc(self, nbytes: int, align: int = 64) -> int:
        nbytes = max(1, int(nbytes))
        addr = -(-self.base // align) * align
        for a, n in sorted(self.live.items()):
            if addr + nbytes <= a:
                break
            addr = max(addr, -(-(a + n) // align) * align)
        if addr + nbytes > self.size:
            raise LTCFormatError(f"scratchpad full: cannot place {nbytes} bytes ({self.used()} of {self.size} "
                                 f"in use)")
        self.live[addr] = nbytes
        self.high_water = max(self.high_water, addr + nbytes)
        return addr

    def free(self, addr: int) -> None:
        if addr not in self.live:
            raise LTCFormatError(f"scratchpad address 0x{addr:x} is not allocated")
        del self.live[addr]

    def used(self) -> int:
        return sum(self.live.values())


class ProgramBuilder:
    def __init__(self, spad_bytes: int | None = None, *, config: LTCConfig | None = None, dram_align: int = 64):
        self.config = config or LTCConfig()
        self.spad_bytes = spad_bytes or self.config.spad_bytes
        self.spad = SpadAllocator(self.spad_bytes)
        self.instrs: list[isa.Instr] = []
        self.tensors: list[TensorInfo] = []
        self.segments: list[Segment] = []
        self.meta: dict = {}
        self._dram_top = 0
        self._align = dram_align
        self._words = 0

    # ---- DRAM ---------------------------------------------------------------------------------------

    def _dram_alloc(self, nbytes: int) -> int:
        addr = -(-self._dram_top // self._align) * self._align
        self._dram_top = addr + max(1, nbytes)
        return addr

    def _tensor(self, role: str, name: str, shape, dtype: str) -> DramTensor:
        if dtype not in TENSOR_DTYPES:
            raise LTCFormatError(f"tensor '{name}': dtype '{dtype}' is not one of {', '.join(TENSOR_DTYPES)}")
        if any(t.name == name for t in self.tensors):
            raise LTCFormatError(f"tensor '{name}' is declared twice")
        t = DramTensor(name, 0, tuple(int(d) for d in shape), dtype)
        t = DramTensor(name, self._dram_alloc(t.nbytes), t.shape, dtype)
        self.tensors.append(TensorInfo(name, role, t.addr, dtype, t.shape))
        return t

    def input(self, name: str, shape, dtype: str) -> DramTensor:
        """A program input: the simulator writes it to DRAM (dense, row-major) before the run."""
        return self._tensor("input", name, shape, dtype)

    def output(self, name: str, shape, dtype: str) -> DramTensor:
        """A program output: read back from DRAM after the run."""
        return self._tensor("output", name, shape, dtype)

    def constant(self, name: str, data, dtype: str | None = None) -> DramTensor:
        """Constant bytes in DRAM (weights, scales, tables of parameters), stored in the .ltc file.
        `data`: a numpy array (its dtype must be a tensor dtype, or give `dtype`) or bytes."""
        if isinstance(data, (bytes, bytearray)):
            raw, shape, dt = bytes(data), (len(data),), "u8"
        else:
            arr = np.asarray(data)
            dt = dtype or next((k for k, v in isa.NUMPY_DTYPES.items() if np.dtype(v) == arr.dtype), None)
            if dt is None:
                raise LTCFormatError(f"constant '{name}': dtype {arr.dtype} has no DRAM type (give dtype=)")
            arr = np.ascontiguousarray(arr, dtype=isa.NUMPY_DTYPES[dt])
            raw, shape = arr.tobytes(), arr.shape
        if any(s.name == name for s in self.segments):
            raise LTCFormatError(f"constant '{name}' is declared twice")
        addr = self._dram_alloc(len(raw))
        self.segments.append(Segment(name, addr, raw))
        return DramTensor(name, addr, tuple(shape), dt)

    def dram_buffer(self, name: str, nbytes: int) -> DramTensor:
        """Zero-initialised DRAM scratch (spill space); not stored in the file."""
        return DramTensor(name, self._dram_alloc(nbytes), (int(nbytes),), "u8")

    # ---- emission -----------------------------------------------------------------------------------

    def emit(self, op: str, **fields) -> isa.Instr:
        """Append one instruction given every field by name (defaults where the ISA has them)."""
        where = f"instruction {len(self.instrs)} (word {self._words})"
        try:
            ins = isa.Instr.make(op, **fields)
            acc = isa.access(ins)
        except LTCFormatError as e:
            raise LTCFormatError(f"{where}: {e}") from None
        for r in acc.reads + acc.writes:
            if r.space == "spad" and r.hi > self.spad_bytes:
                raise LTCFormatError(f"{where}: {op}: {r.what} [0x{r.lo:x}, 0x{r.hi:x}) is out of range of the "
                                     f"{self.spad_bytes}-byte scratchpad")
        self.instrs.append(ins)
        self._words += ins.spec.words
        return ins

    def dma_load(self, *, spad: int, dram: int, row_bytes: int, rows: int = 1, spad_stride: int | None = None,
                 dram_stride: int | None = None, tag: str = "c") -> isa.Instr:
        """DRAM → scratchpad; strides default to dense rows. tag: c (compulsory) or r (retrieve)."""
        return self.emit("dma.ld", tag=tag, rows=rows, row_bytes=row_bytes, dram=dram, spad=spad,
                         dram_stride=row_bytes if dram_stride is None else dram_stride,
                         spad_stride=row_bytes if spad_stride is None else spad_stride)

    def dma_store(self, *, dram: int, spad: int, row_bytes: int, rows: int = 1, spad_stride: int | None = None,
                  dram_stride: int | None = None, tag: str = "c") -> isa.Instr:
        """Scratchpad → DRAM. tag: c (compulsory write-back of an output) or s (spill)."""
        return self.emit("dma.st", tag=tag, rows=rows, row_bytes=row_bytes, dram=dram, spad=spad,
                         dram_stride=row_bytes if dram_stride is None else dram_stride,
                         spad_stride=row_bytes if spad_stride is None else spad_stride)

    def precompute(self, src: Ref, *, m: int, k: int, tab: int, ts: int, table_type: str, form: str,
                   act_group: int, tab_stride: int | None = None, ts_stride: int | None = None,
                   fused: bool = False) -> isa.Instr:
        """Tables [m, ceil(k/4), E] at `tab` and table scales f32 [m, ceil(k/act_group)] at `ts` from the
        activations `src` (dt i8, f16 or f32). fused=True: merged into the vector instruction just
        emitted, which must have written exactly `src` (docs/ltc.md §2, "Fused precompute")."""
        if src.dt not in isa.ADTYPES:
            raise LTCFormatError(f"precompute: activations of type {src.dt} (need one of {', '.join(isa.ADTYPES)})")
        row = table_row_bytes(k, form, table_type)
        return self.emit("pre", src=src.addr, src_stride=src.stride, adt=src.dt, m=m, k=k, tab=tab,
                         tab_stride=row if tab_stride is None else tab_stride, ttype=table_type, form=form,
                         act_group=act_group, ts=ts,
                         ts_stride=-(-k // act_group) * 4 if ts_stride is None else ts_stride, fused=int(fused))

    def lmma(self, *, tab: int, tab_stride: int, table_type: str, form: str, w: int, w_row: int, w_plane: int,
             bits: int, m: int, n: int, k: int, block: int, acc: int, sums: int, accum: bool = False) -> isa.Instr:
        """acc[k/block, m, n] (+)= per-block table-lookup sums, sums[m, k/block] (+)= Σ T[15] (H[7]).
        `tab` points at row 0 of the K range's first table group; `w` at plane 0, row 0, of packed
        planes (two 4-bit indices a byte; the K range must start at an even table group)."""
        return self.emit("lmma", tab=tab, tab_stride=tab_stride, ttype=table_type, form=form, w=w, w_row=w_row,
                         w_plane=w_plane, bits=bits, m=m, n=n, k=k, block=block, acc=acc, sums=sums,
                         accum=int(accum))

    def lmma_dq(self, *, tab: int, tab_stride: int, table_type: str, form: str, w: int, w_row: int, w_plane: int,
                bits: int, m: int, n: int, k: int, block: int, scales: int, zeros: int, s_stride: int, ts: int,
                ts_stride: int, y: Ref | int, s_div: int = 1, s_phase: int = 0, t_div: int = 1, t_phase: int = 0,
                accum: bool = False) -> isa.Instr:
        """y[m, n] (+)= Σ_b f32(s·ts)·R_b over the K range's blocks: lmma + dequant in one instruction,
        the blocks' accumulators kept in the array (no acc/sums in the scratchpad). Operands as for
        lmma (tables, planes) and dequant (scales, zeros, table scales, y, divisors and phases)."""
        ya, ys = (y.addr, y.stride) if isinstance(y, Ref) else (y, n * 4)
        return self.emit("lmma.dq", tab=tab, tab_stride=tab_stride, ttype=table_type, form=form, bits=bits, w=w,
                         w_row=w_row, m=m, w_plane=w_plane, n=n, k=k, accum=int(accum), block=block,
                         scales=scales, zeros=zeros, s_stride=s_stride, s_div=s_div, s_phase=s_phase, ts=ts,
                         ts_stride=ts_stride, t_div=t_div, t_phase=t_phase, y=ya, y_stride=ys)

    def dequant(self, *, acc: int, sums: int, m: int, n: int, nb: int, bits: int, form: str, scales: int,
                zeros: int, s_stride: int, ts: int, ts_stride: int, y: Ref | int, s_div: int = 1,
                s_phase: int = 0, t_div: int = 1, t_phase: int = 0, accum: bool = False,
                acc_type: str = "i32") -> isa.Instr:
        """y[m, n] (+)= Σ_b f32(s·ts)·R_b (lut.mpgemm's epilogue). Scale column of block b is
        (b + s_phase) // s_div, table-scale column (b + t_phase) // t_div. acc_type f32 for f16 tables."""
        ya, ys = (y.addr, y.stride) if isinstance(y, Ref) else (y, n * 4)
        return self.emit("vdq", acc=acc, sums=sums, acct=acc_type, m=m, n=n, nb=nb, bits=bits, form=form,
                         scales=scales, zeros=zeros, s_stride=s_stride, s_div=s_div, s_phase=s_phase, ts=ts,
                         ts_stride=ts_stride, t_div=t_div, t_phase=t_phase, y=ya, y_stride=ys, accum=int(accum))

    def vbin(self, func: str, *, dst: Ref, a: Ref, b: Ref, rows: int, cols: int, bcast: str = "full") -> isa.Instr:
        """dst = a ∘ b (add, sub, mul, div, max, min); b is full, a row [1, cols], a column [rows, 1] or a scalar."""
        return self.emit("vbin", func=func, bcast=bcast, rows=rows, cols=cols, **_r("dst", dst), **_r("a", a),
                         **_r("b", b))

    def vunary(self, func: str, *, dst: Ref, src: Ref, rows: int, cols: int, trans: bool = False) -> isa.Instr:
        """dst = f(src) for f in copy (a type conversion), neg, abs, relu, gelu, gelu_tanh, silu, sigmoid,
        tanh, exp, sqrt, rsqrt, recip, square; trans=True writes the transpose."""
        return self.emit("vun", func=func, trans=int(trans), rows=rows, cols=cols, **_r("dst", dst), **_r("src", src))

    def vaffine(self, *, dst: Ref, src: Ref, rows: int, cols: int, alpha: float, beta: float = 0.0) -> isa.Instr:
        return self.emit("vsa", rows=rows, cols=cols, **_r("dst", dst), **_r("src", src), alpha=alpha, beta=beta)

    def vnorm(self, kind: str, *, dst: Ref, src: Ref, rows: int, cols: int, gamma: int, beta: int | None = None,
              eps: float = 1e-5) -> isa.Instr:
        """LayerNorm or RMSNorm of each row; gamma (and beta) are f32 [cols] at scratchpad addresses."""
        return self.emit("vnorm", kind=kind, rows=rows, cols=cols, **_r("dst", dst), **_r("src", src), gamma=gamma,
                         beta=beta or 0, has_beta=int(beta is not None), eps=eps)

    def vsoftmax(self, *, dst: Ref, src: Ref, rows: int, cols: int, scale: float = 1.0, causal: bool = False,
                 qoff: int = 0) -> isa.Instr:
        return self.emit("vsoftmax", rows=rows, cols=cols, **_r("dst", dst), **_r("src", src), scale=scale,
                         causal=int(causal), qoff=qoff)

    def vquant(self, *, dst: Ref, src: Ref, rows: int, cols: int, scales: int) -> isa.Instr:
        """Per-row int8 quantization of src into dst (dt i8); the f32 row scales go to `scales`."""
        if dst.dt != "i8":
            raise LTCFormatError("vquant: the destination type is i8")
        return self.emit("vquant", rows=rows, cols=cols, dst=dst.addr, dst_stride=dst.stride, **_r("src", src),
                         scales=scales)

    def vmatmul(self, *, c: Ref, a: Ref, b: Ref, m: int, n: int, k: int, transb: bool = False,
                accum: bool = False) -> isa.Instr:
        """C[m, n] (+)= A[m, k] · B (B [k, n], or [n, k] with transb), f32 on the vector unit."""
        if c.dt != "f32":
            raise LTCFormatError("vmm: C is f32")
        return self.emit("vmm", m=m, n=n, k=k, transb=int(transb), accum=int(accum), c=c.addr, c_stride=c.stride,
                         **_r("a", a), **_r("b", b))

    def fence(self, units: str = "all") -> isa.Instr:
        """Dispatch nothing more until the named units (dma, pre, lmma, vec joined by +, or all) are idle."""
        return self.emit("fence", units=units)

    # ---- the program --------------------------------------------------------------------------------

    def build(self, meta: dict | None = None) -> LTCProgram:
        dram = max(64, -(-self._dram_top // 64) * 64)
        prog = LTCProgram(list(self.instrs), self.spad_bytes, dram, list(self.tensors), list(self.segments),
                          {**self.meta, **(meta or {})})
        prog.validate()
        return prog


def _r(prefix: str, ref: Ref) -> dict:
    return {prefix: ref.addr, f"{prefix}_stride": ref.stride, f"{prefix}_dt": ref.dt}


def table_row_bytes(k: int, form: str, table_type: str) -> int:
    """Bytes of one row's tables: ceil(k/4) groups × E entries."""
    return isa.table_groups(k) * isa.FORM_ENTRIES[form] * isa.itemsize(table_type)
