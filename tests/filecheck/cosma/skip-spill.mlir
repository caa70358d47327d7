// RUN: tensorc opt %s -p 'cosma{scratchpad="auto:MR" time-limit=10}' | filecheck %s
// RUN: tensorc opt %s -p 'cosma{scratchpad="auto:MP" time-limit=10}' | filecheck %s --check-prefix=MP
// RUN: tensorc opt %s -p 'cosma{scratchpad="auto:MR" time-limit=10}' | tensorc opt | filecheck %s --check-prefix=ROUND

// A skip connection over a wide layer: at M_R (the 512-byte working set of
// the middle relu) the 64-byte %a cannot stay resident, so it is spilled
// before that relu and retrieved for the add: 128 bytes of traffic. At M_P
// (576 bytes) everything stays resident.
func.func @main(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %w1 = tg.weight @w1 : tensor<16x64xf32>
  %w2 = tg.weight @w2 : tensor<64x16xf32>
  %a = tg.relu(%x) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %b = tg.matmul(%a, %w1) : (tensor<4x16xf32>, tensor<16x64xf32>) -> tensor<4x64xf32>
  %c = tg.relu(%b) : (tensor<4x64xf32>) -> tensor<4x64xf32>
  %d = tg.matmul(%c, %w2) : (tensor<4x64xf32>, tensor<64x16xf32>) -> tensor<4x16xf32>
  %e = tg.add(%a, %d) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %e : tensor<4x16xf32>
}

// CHECK-LABEL: func.func @main
// CHECK-SAME:    mem.plan = {mode = "traffic", capacity = 512 : i64, traffic = 128 : i64, status = "optimal", m_r = 512 : i64, m_h = 544 : i64, m_p = 576 : i64
// CHECK:         %[[X:.*]] = mem.retrieve %x {offset = {{[0-9]+}} : i64, step = 0 : i64} : tensor<4x16xf32>
// CHECK-NEXT:    %a = tg.relu(%[[X]])
// CHECK-NEXT:    mem.place %a {offsets = array<i64: {{[0-9]+}}>, step = 0 : i64}
// CHECK:         %b = tg.matmul(%a, %w1)
// CHECK:         %[[D:.*]] = mem.spill %a {offset = {{[0-9]+}} : i64, step = 2 : i64} : tensor<4x16xf32>
// CHECK-NEXT:    %c = tg.relu(%b)
// CHECK:         %d = tg.matmul(%c, %w2)
// CHECK:         %[[R:.*]] = mem.retrieve %[[D]] {offset = {{[0-9]+}} : i64, step = 4 : i64} : tensor<4x16xf32>
// CHECK-NEXT:    %e = tg.add(%[[R]], %d)
// CHECK-NEXT:    mem.place %e
// CHECK-NEXT:    %[[O:.*]] = mem.store %e {offset = {{[0-9]+}} : i64, step = 4 : i64} : tensor<4x16xf32>
// CHECK-NEXT:    func.return %[[O]] : tensor<4x16xf32>

// MP:      mem.plan = {mode = "traffic", capacity = 576 : i64, traffic = 0 : i64, status = "optimal"
// MP-NOT:  mem.spill
// MP-NOT:  mem.retrieve %{{[0-9]+}}

// ROUND:   mem.spill %a
// ROUND:   mem.retrieve
