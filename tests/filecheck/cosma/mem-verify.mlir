// RUN: tensorc opt %s --verify-diagnostics --split-input-file | filecheck %s

func.func @offsets_per_value(%x: tensor<4xf32>) -> tensor<4xf32> {
  mem.place %x {offsets = array<i64: 0, 4>, step = 0 : i64} : tensor<4xf32>
  func.return %x : tensor<4xf32>
}

// CHECK: mem.place: 1 values but 2 offsets

// -----

func.func @negative_offset(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = mem.retrieve %x {offset = -4 : i64, step = 0 : i64} : tensor<4xf32>
  func.return %a : tensor<4xf32>
}

// CHECK: mem.retrieve: offset and step must be >= 0

// -----

func.func @copy_keeps_the_type(%x: tensor<4xf32>) -> tensor<8xf32> {
  %a = "mem.retrieve"(%x) {offset = 0 : i64, step = 0 : i64} : (tensor<4xf32>) -> tensor<8xf32>
  func.return %a : tensor<8xf32>
}

// CHECK: attribute tensor<4xf32> expected from variable 'T', but got tensor<8xf32>
