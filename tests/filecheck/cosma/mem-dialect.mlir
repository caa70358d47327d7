// RUN: tensorc opt %s | filecheck %s
// RUN: tensorc opt %s --print-op-generic | tensorc opt | filecheck %s

// The mem ops round-trip in custom and generic form.
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = mem.retrieve %x {offset = 0 : i64, step = 0 : i64} : tensor<2x3xf32>
  %b = tg.relu(%a) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  mem.place %b {offsets = array<i64: 8>, step = 0 : i64} : tensor<2x3xf32>
  %d = mem.spill %b {offset = 8 : i64, step = 1 : i64} : tensor<2x3xf32>
  %c = mem.retrieve %d {offset = 0 : i64, step = 1 : i64} : tensor<2x3xf32>
  %e = tg.relu(%c) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  mem.place %e {offsets = array<i64: 6>, step = 1 : i64} : tensor<2x3xf32>
  %o = mem.store %e {offset = 6 : i64, step = 1 : i64} : tensor<2x3xf32>
  func.return %o : tensor<2x3xf32>
}

// CHECK:      %a = mem.retrieve %x {offset = 0 : i64, step = 0 : i64} : tensor<2x3xf32>
// CHECK-NEXT: %b = tg.relu(%a)
// CHECK-NEXT: mem.place %b {offsets = array<i64: 8>, step = 0 : i64} : tensor<2x3xf32>
// CHECK-NEXT: %d = mem.spill %b {offset = 8 : i64, step = 1 : i64} : tensor<2x3xf32>
// CHECK-NEXT: %c = mem.retrieve %d {offset = 0 : i64, step = 1 : i64} : tensor<2x3xf32>
// CHECK:      %o = mem.store %e {offset = 6 : i64, step = 1 : i64} : tensor<2x3xf32>
// CHECK-NEXT: func.return %o : tensor<2x3xf32>
