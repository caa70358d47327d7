// RUN: tensorc opt %s -p fold-shapes | filecheck %s

// shape queries become constants, and the integer code on them folds away;
// float ops on constants are left to fold-constants
func.func @fold_shapes(%x: tensor<2x3x4xf32>) -> (tensor<6x4xf32>, tensor<i64>, tensor<2xf32>) {
  %s = tg.shape(%x) {src = "shape"} : (tensor<2x3x4xf32>) -> tensor<3xi64>
  %lead = tg.slice(%s) {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<3xi64>) -> tensor<2xi64>
  %p = tg.reduce_prod(%lead) {axes = array<i64: 0>, keepdims = 1 : i64} : (tensor<2xi64>) -> tensor<1xi64>
  %last = tg.shape(%x) {start = -1 : i64} : (tensor<2x3x4xf32>) -> tensor<1xi64>
  %new = tg.concat(%p, %last) {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
  %r = tg.reshape(%x) {shape = array<i64: 6, 4>} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %n = tg.size(%x) : (tensor<2x3x4xf32>) -> tensor<i64>
  %f = tg.cast(%new) : (tensor<2xi64>) -> tensor<2xf32>
  %g = tg.neg(%f) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %r, %n, %g : tensor<6x4xf32>, tensor<i64>, tensor<2xf32>
}

// CHECK-LABEL: func.func @fold_shapes
// CHECK-DAG:     %{{.*}} = tg.constant dense<[6, 4]> : tensor<2xi64>
// CHECK-DAG:     %n = tg.constant dense<24> : tensor<i64>
// CHECK:         %f = tg.cast(%{{.*}}) : (tensor<2xi64>) -> tensor<2xf32>
// CHECK-NEXT:    %g = tg.neg(%f)
// CHECK-NOT:     tg.shape
