// RUN: tensorc opt %s -p 'cosma{mode=min-peak}' | filecheck %s --check-prefix=PEAK
// RUN: tensorc opt %s -p 'cosma{mode=fixed-schedule scratchpad="auto:MR"}' | filecheck %s --check-prefix=FIXED
// RUN: tensorc opt %s -p 'cosma{scratchpad="auto:MR"}' | filecheck %s --check-prefix=TRAFFIC
// RUN: tensorc opt %s -p 'cosma{weights=true elem-bytes=4 scratchpad="auto:MR"}' | filecheck %s --check-prefix=WEIGHTS

// Two independent branches joined by an add. The program order runs the wide
// branch (%p, %q: 32 bytes each) while %s of the narrow one is live (peak 72);
// the min-peak order runs the wide branch first (peak 64).
func.func @main(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %s = tg.relu(%y) : (tensor<8xf32>) -> tensor<8xf32>
  %p = tg.concat(%x, %x, %x, %x) {axis = 0 : i64} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<32xf32>
  %q = tg.relu(%p) : (tensor<32xf32>) -> tensor<32xf32>
  %r = tg.slice(%q) {starts = array<i64: 0>, ends = array<i64: 8>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<32xf32>) -> tensor<8xf32>
  %o = tg.add(%s, %r) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  func.return %o : tensor<8xf32>
}

// PEAK:      mem.plan = {mode = "min-peak", capacity = 64 : i64, traffic = 0 : i64, status = "optimal", m_r = 64 : i64, m_h = 64 : i64, m_p = 64 : i64
// PEAK-NOT:  mem.spill
// PEAK:      %p = tg.concat
// PEAK:      %q = tg.relu(%p)
// PEAK:      %r = tg.slice(%q)
// PEAK:      %s = tg.relu
// PEAK:      %o = tg.add(%s, %r)

// At M_R = 64 the program order must spill: %s (8 bytes) goes out and back.
// FIXED:     mem.plan = {mode = "fixed-schedule", capacity = 64 : i64, traffic = 16 : i64, status = "optimal"
// FIXED:     %s = tg.relu
// FIXED:     %[[S:.*]] = mem.spill %s
// FIXED:     %p = tg.concat
// FIXED:     %q = tg.relu
// FIXED:     %[[R:.*]] = mem.retrieve %[[S]]
// FIXED:     %o = tg.add(%[[R]], %r)

// In traffic mode the schedule is free: running the wide branch first moves nothing.
// TRAFFIC:   mem.plan = {mode = "traffic", capacity = 64 : i64, traffic = 0 : i64, status = "optimal"
// TRAFFIC-NOT: mem.spill

// With 4-byte elements every size quadruples.
// WEIGHTS:   mem.plan = {mode = "traffic", capacity = 256 : i64, traffic = 0 : i64
