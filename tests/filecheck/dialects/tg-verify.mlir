// RUN: tensorc opt %s --verify-diagnostics --split-input-file | filecheck %s

func.func @operand_count(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = tg.add(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %a : tensor<2x3xf32>
}

// CHECK: tg.add: expects 2 operands, got 1

// -----

func.func @no_broadcast(%x: tensor<2x3xf32>, %y: tensor<4xf32>) -> tensor<2x3xf32> {
  %a = tg.add(%x, %y) {src = "node7"} : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return %a : tensor<2x3xf32>
}

// CHECK: tg.add (node 'node7'): operand shapes [2, 3], [4] do not broadcast

// -----

func.func @wrong_result(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
  %a = tg.relu(%x) : (tensor<2x3xf32>) -> tensor<3x3xf32>
  func.return %a : tensor<3x3xf32>
}

// CHECK: tg.relu: result types (tensor<3x3xf32>) do not match inferred (tensor<2x3xf32>)

// -----

func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %y = tg.conv(%x, %w) : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return %y : tensor<1x4x6x6xf32>
}

// CHECK: tg.conv: channels: input 3, weight [4, 2], group 1

// -----

func.func @unknown_attribute(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = tg.relu(%x) {alpha = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %a : tensor<2x3xf32>
}

// CHECK: tg.relu: unknown attribute 'alpha'

// -----

func.func @attribute_kind(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = tg.softmax(%x) {axis = 1.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %a : tensor<2x3xf32>
}

// CHECK: tg.softmax: attribute 'axis' must be int, got 1.000000e+00 : f32

// -----

func.func @missing_attribute(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %a = tg.transpose(%x) : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return %a : tensor<3x2xf32>
}

// CHECK: tg.transpose: missing required attribute 'perm'

// -----

func.func @bad_perm(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %a = tg.transpose(%x) {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return %a : tensor<3x2xf32>
}

// CHECK: tg.transpose: perm [0, 0] is not a permutation of rank 2

// -----

func.func @bad_reshape(%x: tensor<2x3xf32>) -> tensor<4xf32> {
  %a = tg.reshape(%x) {shape = array<i64: 4>} : (tensor<2x3xf32>) -> tensor<4xf32>
  func.return %a : tensor<4xf32>
}

// CHECK: tg.reshape: cannot reshape [2, 3] to [4]

// -----

func.func @bad_split(%x: tensor<5xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %a:2 = tg.split(%x) {split = array<i64: 2, 2>} : (tensor<5xf32>) -> (tensor<2xf32>, tensor<2xf32>)
  func.return %a#0, %a#1 : tensor<2xf32>, tensor<2xf32>
}

// CHECK: tg.split: split sizes [2, 2] do not add up to 5

// -----

func.func @constant_type() -> tensor<3xf32> {
  %c = "tg.constant"() <{value = dense<[1.0, 2.0]> : tensor<2xf32>}> : () -> tensor<3xf32>
  func.return %c : tensor<3xf32>
}

// CHECK: tg.constant: value type tensor<2xf32> != result type tensor<3xf32>
