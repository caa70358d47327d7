// Custom syntax round-trips, and so does the generic form.
// RUN: tensorc opt %s | tensorc opt | filecheck %s
// RUN: tensorc opt %s --print-op-generic | tensorc opt | filecheck %s
// RUN: tensorc opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

func.func @main(%x: tensor<1x3x8x8xf32>, %i: tensor<2xi64>, %m: tensor<1x3x8x8xi1>) -> (tensor<1x4x4x4xf32>, tensor<1x4xf32>, tensor<2x4xf32>, tensor<3x1xf32>, tensor<1x3x8x8xf32>) {
  // weight and constant
  %w = tg.weight @conv.weight : tensor<4x3x3x3xf32>
  %b = tg.constant dense<[0.5, -1.0, 0.25, 2.0]> : tensor<4xf32>
  // elementwise: binary, unary with attributes, where, cast
  %s = tg.mul(%x, %x) {src = "sq"} : (tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
  %c = tg.clip(%s) {min = 0.0 : f32, max = 6.0 : f32} : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
  %e = tg.where(%m, %c, %x) : (tensor<1x3x8x8xi1>, tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
  %h = tg.cast(%e) : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf16>
  // conv and pool
  %y = tg.conv(%e, %w, %b) {pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %p = tg.max_pool(%y) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  // reduce
  %r = tg.reduce_mean(%p) {axes = array<i64: 2, 3>, keepdims = 0 : i64} : (tensor<1x4x4x4xf32>) -> tensor<1x4xf32>
  // reshape, transpose, slice, gather, concat, split
  %f = tg.reshape(%r) {shape = array<i64: 4, 1>} : (tensor<1x4xf32>) -> tensor<4x1xf32>
  %t = tg.transpose(%f) {perm = array<i64: 1, 0>} : (tensor<4x1xf32>) -> tensor<1x4xf32>
  %sl = tg.slice(%f) {starts = array<i64: 1>, ends = array<i64: 4>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<4x1xf32>) -> tensor<3x1xf32>
  %g = tg.gather(%t, %i) {axis = 0 : i64} : (tensor<1x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  %cc = tg.concat(%t, %t) {axis = 0 : i64} : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
  %sp:2 = tg.split(%cc) {axis = 0 : i64, split = array<i64: 1, 1>} : (tensor<2x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>)
  %o = tg.add(%g, %sp#1) : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
  func.return %p, %sp#0, %o, %sl, %e : tensor<1x4x4x4xf32>, tensor<1x4xf32>, tensor<2x4xf32>, tensor<3x1xf32>, tensor<1x3x8x8xf32>
}

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %w = tg.weight @conv.weight : tensor<4x3x3x3xf32>
// CHECK-NEXT:    %b = tg.constant dense<[5.000000e-01, -1.000000e+00, 2.500000e-01, 2.000000e+00]> : tensor<4xf32>
// CHECK-NEXT:    %s = tg.mul(%x, %x) {src = "sq"} : (tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
// CHECK-NEXT:    %c = tg.clip(%s) {min = 0.000000e+00 : f32, max = 6.000000e+00 : f32} : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
// CHECK-NEXT:    %e = tg.where(%m, %c, %x) : (tensor<1x3x8x8xi1>, tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
// CHECK-NEXT:    %h = tg.cast(%e) : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf16>
// CHECK-NEXT:    %y = tg.conv(%e, %w, %b) {pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
// CHECK-NEXT:    %p = tg.max_pool(%y) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:    %r = tg.reduce_mean(%p) {axes = array<i64: 2, 3>, keepdims = 0 : i64} : (tensor<1x4x4x4xf32>) -> tensor<1x4xf32>
// CHECK-NEXT:    %f = tg.reshape(%r) {shape = array<i64: 4, 1>} : (tensor<1x4xf32>) -> tensor<4x1xf32>
// CHECK-NEXT:    %t = tg.transpose(%f) {perm = array<i64: 1, 0>} : (tensor<4x1xf32>) -> tensor<1x4xf32>
// CHECK-NEXT:    %sl = tg.slice(%f) {starts = array<i64: 1>, ends = array<i64: 4>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<4x1xf32>) -> tensor<3x1xf32>
// CHECK-NEXT:    %g = tg.gather(%t, %i) {axis = 0 : i64} : (tensor<1x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
// CHECK-NEXT:    %cc = tg.concat(%t, %t) {axis = 0 : i64} : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %sp, %sp_1 = tg.split(%cc) {axis = 0 : i64, split = array<i64: 1, 1>} : (tensor<2x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>)
// CHECK-NEXT:    %o = tg.add(%g, %sp_1) : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %p, %sp, %o, %sl, %e

// GENERIC:      %w = "tg.weight"() <{ref = @conv.weight}> : () -> tensor<4x3x3x3xf32>
// GENERIC-NEXT: %b = "tg.constant"() <{value = dense<[5.000000e-01, -1.000000e+00, 2.500000e-01, 2.000000e+00]> : tensor<4xf32>}> : () -> tensor<4xf32>
// GENERIC-NEXT: %s = "tg.mul"(%x, %x) {src = "sq"} : (tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
// GENERIC:      %y = "tg.conv"(%e, %w, %b) {pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>}
// GENERIC:      "tg.split"(%cc) {axis = 0 : i64, split = array<i64: 1, 1>} : (tensor<2x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>)
