"""Instruction selection: a planned tg/lut/mem function → the LUT Tensor Core instruction stream.

Input: `@main` after the `cosma` plan was written into it (dialects/mem.py): operators in plan
order, `mem.retrieve` / `mem.spill` / `mem.store` copies, `mem.place` offsets. The scratchpad is
split in two:

    [0, capacity)             the plan's region: every activation at the offset the plan gives it
    [capacity, spad_bytes)    the workspace: weight tiles, accumulators, staged parameters and
                              temporaries of the operator being emitted (freed after it)

and DRAM holds the inputs, the outputs, the constants (weights in the LTC layout) and one
spill slot per spilled value. Each mem op is one DMA (several if it is longer than a DMA row
holds) tagged as the plan counts it: the first read of an input and the write-back of an output
are compulsory (`c`), a spill is `s`, any other read is a retrieve (`r`). Weights and parameters
stream from DRAM into the workspace (compulsory reads, once per use), so the simulator's DRAM
counters equal the plan's traffic plus the weight stream (`Emitter.weight_bytes`; for a
lut.mpgemm exactly the packed planes, scales and zero points: every weight byte is read once).

Each operator is selected on its own (vector.py for element-wise, normalization, softmax, data
movement, reductions and dense f32 matmuls; lut_kernel.py for lut.mpgemm); a `lut.precompute`
marked `fuse_producer` whose producer's last instruction wrote exactly its activations becomes a
fused `pre` (merged into that vector instruction). Scheduling is the order of the stream: the
core's scoreboard overlaps instructions whose byte ranges do not conflict, so double-buffered
workspace tiles overlap DMA, lmma and the vector epilogue by construction; the workspace is
handed out round-robin across operators so that one operator's weight DMA does not wait for the
previous operator's buffers to drain.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.ir import BlockArgument, SSAValue

from tensorc.diagnostics import BackendError
from tensorc.dialects import dtypes
from tensorc.dialects.mem import PlaceOp, RetrieveOp, SpillOp, StoreOp
from tensorc.dialects.tg import ConstantOp, WeightOp
from tensorc.ltc.builder import ProgramBuilder, Ref
from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.config import LTCConfig
from tensorc.runtime.ltc.errors import LTCFormatError

from .prepare import constant_value, describe

#: numpy dtype → the ISA's storage type names
DT = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", np.dtype(np.int8): "i8",
      np.dtype(np.int16): "i16", np.dtype(np.int32): "i32", np.dtype(np.uint8): "u8"}
#: longest single DMA row (the row_bytes field is 24 bits)
DMA_ROW_MAX = 1 << 23


def dt_of(v: SSAValue, where: str = "") -> str:
    d = dtypes.dtype_of(v.type)
    if d not in DT:
        raise BackendError(f"ltc: {where}: element type {d} is not stored by the core")
    return DT[d]


@dataclass(frozen=True)
class Buf:
    """A dense row-major tensor in the scratchpad."""

    addr: int
    shape: tuple[int, ...]
    dt: str

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def esize(self) -> int:
        return isa.itemsize(self.dt)

    @property
    def nbytes(self) -> int:
        return self.numel * self.esize


class Workspace:
    """The scratchpad above the plan's region, handed out first-fit from a rotating start: an
    operator's buffers come after the previous operator's when there is room, so consecutive
    operators do not reuse (and wait on) the same bytes."""

    def __init__(self, base: int, end: int):
        self.base, self.end = base, end
        self.live: dict[int, int] = {}
        self.cursor = base
        self.high = base

    @property
    def size(self) -> int:
        return self.end - self.base

    def alloc(self, nbytes: int, align: int = 64) -> int:
        nbytes = max(1, int(nbytes))
        for start in (self.cursor, self.base):
            addr = -(-start // align) * align
            for a, n in sorted(self.live.items()):
                if a + n <= addr:
                    continue
                if addr + nbytes <= a:
                    break
                addr = -(-(a + n) // align) * align
            if addr + nbytes <= self.end:
                self.live[addr] = nbytes
                self.high = max(self.high, addr + nbytes)
                return addr
        raise BackendError(f"ltc: the {self.size}-byte workspace cannot hold {nbytes} more bytes "
                           f"({sum(self.live.values())} in use); raise the workspace or the scratchpad")

    def release_all(self) -> None:
        """End of an operator: its buffers are free; the next operator starts after them."""
        if self.live:
            a = max(self.live)
            self.cursor = a + self.live[a]
            if self.cursor >= self.end - (self.end - self.base) // 4:
                self.cursor = self.base
        self.live.clear()


class Emitter:
    def __init__(self, fn: func.FuncOp, weights, config: LTCConfig, capacity: int, *, in_names, out_names,
                 fuse: bool = True, epilogue: str = "array", shapes_only: bool = False):
        self.fn = fn
        self.epilogue = epilogue  # lut.mpgemm's epilogue: "array" (lmma.dq) or "vector" (lmma + vdq)
        self.shapes_only = shapes_only  # lut.mpgemm weights missing from the store get DRAM space, no values
        self.reserved = 0  # DRAM bytes of such weights
        self.weights = weights
        self.cfg = config
        self.capacity = capacity
        self.fuse = fuse
        self.b = ProgramBuilder(config.spad_bytes, config=config)
        if capacity >= config.spad_bytes:
            raise BackendError(f"ltc: the plan's scratchpad ({capacity} B) leaves no workspace in the "
                               f"{config.spad_bytes}-byte scratchpad")
        self.ws = Workspace(-(-capacity // 64) * 64, config.spad_bytes)
        self.origins: list[str | None] = []
        self.spad: dict[SSAValue, Buf] = {}  # scratchpad values
        self.dram: dict[SSAValue, int] = {}  # DRAM values: inputs, spilled, stored
        self.read_once: set[SSAValue] = set()  # inputs already read (later reads are retrieves)
        self.consts: dict[str, int] = {}  # DRAM constants by key
        self.tile_offsets: dict[str, dict] = {}  # pre-tiled weight planes: tile -> byte offset
        self.weight_bytes = 0  # bytes of weights/parameters the stream reads
        self.fused = 0
        self.in_names, self.out_names = list(in_names), list(out_names)

    # ---- helpers -----------------------------------------------------------------------------------

    def emit(self, origin: str | None, method, *args, **kwargs):
        n = len(self.b.instrs)
        try:
            ins = method(*args, **kwargs)
        except LTCFormatError as e:
            raise BackendError(f"ltc: {origin}: {e}") from None
        self.origins.extend([origin] * (len(self.b.instrs) - n))
        return ins

    @staticmethod
    def ref(addr: int, stride: int, dt: str) -> Ref:
        return Ref(addr, stride, dt)

    def dma_load(self, spad: int, dram: int, nbytes: int, tag: str, origin: str | None) -> None:
        for off in range(0, nbytes, DMA_ROW_MAX):
            n = min(DMA_ROW_MAX, nbytes - off)
            self.emit(origin, self.b.dma_load, spad=spad + off, dram=dram + off, row_bytes=n, tag=tag)

    def dma_store(self, dram: int, spad: int, nbytes: int, tag: str, origin: str | None) -> None:
        for off in range(0, nbytes, DMA_ROW_MAX):
            n = min(DMA_ROW_MAX, nbytes - off)
            self.emit(origin, self.b.dma_store, dram=dram + off, spad=spad + off, row_bytes=n, tag=tag)

    def constant(self, key: str, data: np.ndarray | bytes) -> int:
        """DRAM address of a constant (placed once); its segment is named after `key` in the
        characters the assembly allows."""
        if key not in self.consts:
            name = re.sub(r"[^\w.\-/:]", "_", key)
            if not re.match(r"[A-Za-z_]", name):
                name = "_" + name
            taken = {s.name for s in self.b.segments}
            base, i = name, 0
            while name in taken:
                i += 1
                name = f"{base}_{i}"
            self.consts[key] = self.b.constant(name, data).addr
        return self.consts[key]

    def reserve(self, key: str, nbytes: int) -> int:
        """DRAM address of `nbytes` of weight space whose values are not known (shapes-only
        compilation, for timing): placed once, never stored in the program."""
        if key not in self.consts:
            self.consts[key] = self.b.dram_buffer(f"shape-only:{key}", nbytes).addr
            self.reserved += nbytes
        return self.consts[key]

    def stage(self, v: SSAValue, origin: str) -> Buf:
        """A weight or constant operand, read from DRAM into the workspace."""
        arr = constant_value(v, self.weights)
        if arr is None:
            raise AssertionError("stage() of a computed value")
        dt = DT.get(arr.dtype)
        if dt is None:
            raise BackendError(f"ltc: {origin}: a {arr.dtype} constant operand (the core stores "
                               f"{', '.join(sorted(set(DT.values())))})")
        return self.stage_array(_const_key(v), arr, dt, origin)

    def stage_array(self, key: str, arr: np.ndarray, dt: str, origin: str) -> Buf:
        arr = np.ascontiguousarray(arr, dtype=isa.NUMPY_DTYPES[dt])
        dram = self.constant(key, arr.reshape(-1) if arr.ndim else arr.reshape(1))
        buf = Buf(self.ws.alloc(arr.nbytes), tuple(arr.shape), dt)
        self.dma_load(buf.addr, dram, arr.nbytes, "c", origin)
        self.weight_bytes += arr.nbytes
        return buf

    def operand(self, v: SSAValue, origin: str) -> Buf:
        """A scratchpad activation, or a staged weight/constant."""
        if v in self.spad:
            return self.spad[v]
        if isinstance(v.owner, (WeightOp, ConstantOp)):
            return self.stage(v, origin)
        raise BackendError(f"ltc: {origin}: an operand is not in the scratchpad (the plan must retrieve it)")

    def scalar_buf(self, value: float, origin: str) -> Buf:
        return self.stage_array(f"__imm_f32_{np.float32(value).view(np.uint32):08x}",
                                np.array([value], np.float32), "f32", origin)

    # ---- the walk ----------------------------------------------------------------------------------

    def run(self) -> ProgramBuilder:
        block = self.fn.body.block
        ret = block.last_op
        # DRAM: inputs in signature order, then outputs
        for name, a in zip(self.in_names, block.args):
            t = self.b.input(name, dtypes.shape_of(a.type), dt_of(a, f"input '{name}'"))
            self.dram[a] = t.addr
        out_addr: dict[SSAValue, int] = {}
        for name, v in zip(self.out_names, ret.operands):
            if not isinstance(v.owner, StoreOp):
                raise BackendError(f"ltc: output '{name}' is not written back by the plan (mem.store); "
                                   f"outputs that are inputs or constants are not supported")
            if v in out_addr:
                raise BackendError(f"ltc: output '{name}' repeats another output")
            out_addr[v] = self.b.output(name, dtypes.shape_of(v.type), dt_of(v, f"output '{name}'")).addr
        # offsets of operator results (mem.place follows its operator)
        placed: dict[SSAValue, int] = {}
        for op in block.ops:
            if isinstance(op, PlaceOp):
                for v, off in zip(op.values, op.offset_list()):
                    placed[v] = off
        from .isel import select  # noqa: PLC0415 (isel imports this module)

        for op in block.ops:
            if isinstance(op, (WeightOp, ConstantOp, PlaceOp)) or op is ret:
                continue
            if isinstance(op, RetrieveOp):
                self._retrieve(op)
            elif isinstance(op, SpillOp):
                self._spill(op)
            elif isinstance(op, StoreOp):
                self._store(op, out_addr[op.result] if op.result in out_addr else None)
            else:
                for r in op.results:
                    if r not in placed:
                        raise BackendError(f"ltc: {describe(op)} has no scratchpad offset (run the cosma plan "
                                           f"first)")
                    self.spad[r] = Buf(placed[r], dtypes.shape_of(r.type), dt_of(r, describe(op)))
                    if self.spad[r].addr + self.spad[r].nbytes > self.capacity:
                        raise BackendError(f"ltc: {describe(op)}: result at offset {placed[r]} runs past the "
                                           f"plan's {self.capacity}-byte region")
                try:
                    select(self, op)
                except BackendError as e:
                    msg = str(e)
                    raise BackendError(msg if describe(op) in msg else f"{msg} (at {describe(op)})") from None
                self.ws.release_all()
        return self.b

    def _retrieve(self, op: RetrieveOp) -> None:
        src = op.source
        if src not in self.dram:
            raise BackendError(f"ltc: mem.retrieve (step {op.step.value.data}) of a value with no DRAM copy")
        tag = "r"
        if isinstance(src, BlockArgument) and src not in self.read_once:
            tag = "c"
            self.read_once.add(src)
        buf = Buf(op.offset.value.data, dtypes.shape_of(op.result.type), dt_of(op.result, "mem.retrieve"))
        self.dma_load(buf.addr, self.dram[src], buf.nbytes, tag, "mem.retrieve")
        self.spad[op.result] = buf

    def _spill(self, op: SpillOp) -> None:
        buf = self.spad[op.source]
        slot = self.b.dram_buffer(f"spill{len(self.dram)}", buf.nbytes).addr
        self.dma_store(slot, buf.addr, buf.nbytes, "s", "mem.spill")
        self.dram[op.result] = slot

    def _store(self, op: StoreOp, addr: int | None) -> None:
        buf = self.spad[op.source]
        if addr is None:  # an output stored but returned through a later copy: keep a DRAM slot anyway
            addr = self.b.dram_buffer(f"store{len(self.dram)}", buf.nbytes).addr
        self.dma_store(addr, buf.addr, buf.nbytes, "c", "mem.store")
        self.dram[op.result] = addr


def _const_key(v: SSAValue) -> str:
    op = v.owner
    if isinstance(op, WeightOp):
        return op.weight_name
    arr = np.asarray(constant_value(v, None))
    return f"__const_{arr.dtype}_{'x'.join(map(str, arr.shape))}_{zlib.crc32(arr.tobytes()):08x}"
