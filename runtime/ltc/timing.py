"""The cycle model: an in-order front end, one queue per unit, and an address scoreboard.

- The front end dispatches one instruction per cycle, in program order, into the queue of its unit
  (`queue_depth` entries). A full queue stalls dispatch (and so everything behind it); a `fence`
  stalls dispatch until the named units have completed all earlier instructions.
- Each unit starts its instructions in queue order. dma.ld and dma.st have separate queues (a
  store waiting for its data does not hold up the loads behind it) and share one DRAM channel,
  which grants transfers first-fit in time. An instruction starts when it is dispatched,
  its unit has finished the previous instruction's occupancy, and the scoreboard is clear: every
  earlier instruction (any unit) whose byte ranges conflict with its own (read-after-write,
  write-after-read, write-after-write; scratchpad and DRAM; strided operands tracked by their
  bounding interval) has completed. This is a Gemmini-style reservation station: overlap is
  automatic where it is safe, so results never depend on timing.
- It completes `occupancy + latency` cycles after it starts; the unit may start its next
  instruction after `occupancy` cycles. A DMA transfer's occupancy is channel time: when the
  other queue's transfers hold the channel, it takes the free cycles around them (so its
  occupancy stretches) — "dram" in the stall table.
- A fused `pre` is merged into the vector instruction it follows (one issue, one completion).

The run ends when every unit has drained. Stall cycles are attributed to the unit whose
instruction the scoreboard waited for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .config import LTCConfig
from .cost import Cost, Energy, cost_of, fused_pre_cost
from .isa import UNITS, Access, Instr, units_text

UNIT_NAMES = UNITS  # ld, st, pre, lmma, vec


@dataclass
class _Rec:
    end: int
    reads: tuple
    writes: tuple
    index: int
    end_max: int  # the latest end of this and every earlier record of the unit (ends need not be sorted:
    #               a fused vector op has a longer latency than the plain one after it)


@dataclass
class _Unit:
    free: int = 0  # when the unit can start its next instruction
    last_end: int = 0
    busy: int = 0
    count: int = 0
    recs: deque = field(default_factory=deque)
    starts: deque = field(default_factory=deque)  # start times of the instructions in its queue window
    stall_on: dict = field(default_factory=dict)  # producer unit -> cycles waited on the scoreboard


def _conflict(rec: _Rec, acc: Access) -> bool:
    for w in rec.writes:
        for r in acc.reads + acc.writes:
            if w.space == r.space and w.lo < r.hi and r.lo < w.hi:
                return True
    for r in rec.reads:
        for w in acc.writes:
            if w.space == r.space and w.lo < r.hi and r.lo < w.hi:
                return True
    return False


class _Channel:
    """The DRAM channel the two DMA queues share. A transfer needs `occupancy` cycles of channel
    time from when it may start; it takes them from the free time in order, so transfers interleave
    (as bursts from two queues do at a DRAM controller) instead of one waiting for a whole slot."""

    def __init__(self):
        self.busy: list[tuple[int, int]] = []  # sorted, disjoint [start, end)

    def grant(self, ready: int, length: int) -> tuple[int, int]:
        """(first cycle, one past the last cycle) of the channel time given to a transfer."""
        if length == 0:
            return ready, ready
        pieces = []
        t, need = ready, length
        for s, e in self.busy:
            if e <= t:
                continue
            if s > t:
                take = min(need, s - t)
                pieces.append((t, t + take))
                need -= take
                if need == 0:
                    break
            t = max(t, e)
        if need:
            pieces.append((t, t + need))
        merged = []
        for s, e in sorted(self.busy + pieces):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.busy = merged
        return pieces[0][0], pieces[-1][1]

    def prune(self, before: int) -> None:
        while self.busy and self.busy[0][1] <= before:
            self.busy.pop(0)


@dataclass
class Schedule:
    """Start and end cycle of every instruction (fused pairs share one entry), and the totals."""

    cycles: int
    starts: list[int]
    ends: list[int]
    units: dict
    dispatch_stall: int
    costs: list[Cost]


def schedule(instrs: list[Instr], accesses: list[Access], cfg: LTCConfig, energy: Energy) -> Schedule:
    units = {u: _Unit() for u in UNIT_NAMES}
    channel = _Channel()
    qd = cfg.queue_depth
    t_disp = -1
    fence_until = 0
    dispatch_stall = 0
    starts, ends, costs = [0] * len(instrs), [0] * len(instrs), [None] * len(instrs)
    i = 0
    n = len(instrs)
    while i < n:
        ins = instrs[i]
        if ins.op == "fence":
            d = max(t_disp + 1, fence_until)
            mask = ins["units"]
            for b, u in enumerate(UNIT_NAMES):
                if mask >> b & 1:
                    fence_until = max(fence_until, units[u].last_end)
            dispatch_stall += d - (t_disp + 1)
            t_disp = d
            starts[i] = ends[i] = d
            costs[i] = Cost("ctl", 0, 0)
            i += 1
            continue
        cost = cost_of(ins, cfg, energy)
        acc = accesses[i]
        span = 1
        if i + 1 < n and instrs[i + 1].op == "pre" and instrs[i + 1]["fused"]:
            nxt = accesses[i + 1]
            cost = fused_pre_cost(cost, instrs[i + 1], cfg, energy)
            # the tables come from the pipeline: the pair reads only what the vector op reads
            acc = Access(acc.reads, acc.writes + nxt.writes)
            span = 2
        u = units[cost.unit]
        d = max(t_disp + 1, fence_until)
        if len(u.starts) >= qd:
            d = max(d, u.starts[-qd])
        dispatch_stall += d - (t_disp + 1)
        ready = max(d, u.free)
        dep, blame = 0, None
        for name, v in units.items():
            for rec in reversed(v.recs):
                if rec.end_max <= ready:
                    break
                if rec.end > dep and _conflict(rec, acc):
                    dep, blame = rec.end, name
        start = max(ready, dep)
        if dep > ready:
            u.stall_on[blame] = u.stall_on.get(blame, 0) + dep - ready
        done = start + cost.occupancy
        if cost.unit in ("ld", "st"):
            first, done = channel.grant(start, cost.occupancy)
            if done > start + cost.occupancy:
                u.stall_on["dram"] = u.stall_on.get("dram", 0) + done - start - cost.occupancy
            start = first
        end = done + cost.latency
        u.free = done
        u.last_end = max(u.last_end, end)
        u.busy += cost.occupancy
        u.count += span
        u.recs.append(_Rec(end, acc.reads, acc.writes, i, max(end, u.recs[-1].end_max if u.recs else 0)))
        u.starts.append(start)
        if len(u.starts) > qd:
            u.starts.popleft()
        for v in units.values():  # records that ended before this dispatch can never matter again
            while v.recs and v.recs[0].end <= d:
                v.recs.popleft()
        channel.prune(d)
        t_disp = d
        for j in range(i, i + span):
            starts[j], ends[j] = start, end
        costs[i] = cost
        if span == 2:
            costs[i + 1] = Cost("vec", 0, 0)  # accounted in the merged cost
        i += span
    cycles = max([t_disp + 1] + [u.last_end for u in units.values()]) if n else 0
    return Schedule(cycles, starts, ends, units, dispatch_stall, costs)


def build_report(instrs: list[Instr], sched: Schedule, cfg: LTCConfig, energy: Energy) -> dict:
    """The simulator's report (docs/ltc.md §4 defines every number)."""
    cycles = sched.cycles
    dram = {"read": {"compulsory": 0, "retrieve": 0}, "write": {"compulsory": 0, "spill": 0}, "burst_bytes": 0}
    parts: dict[str, float] = {}
    plane_macs = 0
    pre_standalone = pre_fused = 0
    by_op: dict[str, int] = {}
    for ins, c in zip(instrs, sched.costs):
        by_op[ins.op] = by_op.get(ins.op, 0) + 1
        if c is None:
            continue
        for k, v in c.energy.items():
            parts[k] = parts.get(k, 0.0) + v
        plane_macs += c.plane_macs
        if c.dram_read:
            dram["read"]["compulsory" if c.tag == "c" else "retrieve"] += c.dram_read
        if c.dram_write:
            dram["write"]["compulsory" if c.tag == "c" else "spill"] += c.dram_write
        dram["burst_bytes"] += c.dram_burst_bytes
        if ins.op == "pre":
            pre_standalone += c.pre_cycles
        else:  # a vector instruction with a fused precompute merged into it
            pre_fused += c.pre_cycles
    fused_count = sum(1 for ins in instrs if ins.op == "pre" and ins["fused"])
    parts["static"] = cycles * energy.static_pj_per_cycle
    dram["read"]["total"] = dram["read"]["compulsory"] + dram["read"]["retrieve"]
    dram["write"]["total"] = dram["write"]["compulsory"] + dram["write"]["spill"]
    dram["total"] = dram["read"]["total"] + dram["write"]["total"]
    peak = cycles * cfg.tile_macs
    lmma = sched.units["lmma"]
    units = {}
    for name, u in sched.units.items():
        units[name] = {"instructions": u.count, "busy_cycles": u.busy,
                       "busy_fraction": u.busy / cycles if cycles else 0.0,
                       "scoreboard_stall_cycles": dict(sorted(u.stall_on.items()))}
    lmma_on_pre = lmma.stall_on.get("pre", 0)
    return {
        "cycles": cycles,
        "time_s": cycles / cfg.clock_hz,
        "clock_mhz": cfg.clock_mhz,
        "instructions": {"total": len(instrs), "by_op": dict(sorted(by_op.items()))},
        "array": {
            "utilization": plane_macs / peak if peak else 0.0,
            "busy_fraction": lmma.busy / cycles if cycles else 0.0,
            "useful_plane_macs": plane_macs,
            "peak_plane_macs_per_cycle": cfg.tile_macs,
            "tile": f"M{cfg.tile_m} N{cfg.tile_n} K{cfg.tile_k} x{cfg.arrays}",
        },
        "units": units,
        "dispatch_stall_cycles": sched.dispatch_stall,
        "dram_bytes": dram,
        "precompute": {
            "standalone_cycles": pre_standalone,
            "fused_extra_cycles": pre_fused,
            "fused_instructions": fused_count,
            "share": (pre_standalone + pre_fused) / cycles if cycles else 0.0,
            "lmma_stall_on_pre_cycles": lmma_on_pre,
        },
        "energy_nj": {**{k: v / 1000 for k, v in sorted(parts.items())}, "total": sum(parts.values()) / 1000},
    }


def format_report(rep: dict) -> str:
    """A short human-readable summary of a report."""
    d = rep["dram_bytes"]
    a = rep["array"]
    lines = [
        f"cycles            {rep['cycles']}  ({rep['time_s'] * 1e6:.3f} us at {rep['clock_mhz']:g} MHz)",
        f"instructions      {rep['instructions']['total']}  "
        + " ".join(f"{k}={v}" for k, v in rep["instructions"]["by_op"].items()),
        f"array             utilization {a['utilization']:.4f}, busy {a['busy_fraction']:.4f} ({a['tile']})",
        "units             " + "  ".join(f"{k} {v['busy_fraction']:.3f}" for k, v in rep["units"].items()),
        f"DRAM read         {d['read']['total']} B (compulsory {d['read']['compulsory']}, "
        f"retrieve {d['read']['retrieve']})",
        f"DRAM written      {d['write']['total']} B (compulsory {d['write']['compulsory']}, "
        f"spill {d['write']['spill']})",
        f"table precompute  {rep['precompute']['share']:.4f} of cycles (standalone "
        f"{rep['precompute']['standalone_cycles']}, fused extra {rep['precompute']['fused_extra_cycles']}; "
        f"lmma waited {rep['precompute']['lmma_stall_on_pre_cycles']} on pre)",
        "energy            " + f"{rep['energy_nj']['total']:.1f} nJ (" + ", ".join(
            f"{k} {v:.1f}" for k, v in rep["energy_nj"].items() if k != "total") + ")",
    ]
    return "\n".join(lines)


__all__ = ["schedule", "build_report", "format_report", "Schedule", "units_text"]
