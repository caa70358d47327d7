// lower-eqv leaves only tg ops: grid transforms and CG blocks become matmuls of constants.
// RUN: tensorc opt %s -p 'lower-eqv' | filecheck %s

func.func @main(%x: tensor<4x4xf64>, %s: tensor<1x1x2xf64>) -> (tensor<4x4xf64>, tensor<4x4xf64>) {
  %c = tg.constant dense<[[[1.0, 0.5]]]> : tensor<1x1x2xf64>
  %g = eqv.gaunt_tp(%x, %x, %c, %c, %c) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">} : (tensor<4x4xf64>, tensor<4x4xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>) -> tensor<4x4xf64>
  %z = eqv.cg_tp(%x, %x) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = [#eqv.path<1, 1, 0, "uuu", false, 0.5>]} : (tensor<4x4xf64>, tensor<4x4xf64>) -> tensor<4x4xf64>
  func.return %g, %z : tensor<4x4xf64>, tensor<4x4xf64>
}

// The Gaunt product, sample-major. One channel: the 4 samples form one block (the
// innermost axis), so x is transposed once per block; x ⊗ x is transformed once.
// CHECK-NOT: eqv.
// CHECK: %[[XB:.*]] = tg.transpose(%{{.*}}) {perm = array<i64: 0, 2, 1>} : (tensor<1x4x4xf64>) -> tensor<1x4x4xf64>
// gather by (m, l) with padding, l -> theta per m (batched), m -> phi
// CHECK: tg.gather(%[[XB]], %{{.*}}) {axis = 1 : i64} : (tensor<1x4x4xf64>, tensor<6xi64>) -> tensor<1x6x4xf64>
// CHECK: tg.matmul(%{{.*}}, %{{.*}}) : (tensor<1x3x2x2xf64>, tensor<1x1x3x2x4xf64>) -> tensor<1x1x3x2x4xf64>
// CHECK: tg.matmul(%{{.*}}, %{{.*}}) : (tensor<4x3xf64>, tensor<1x1x3x8xf64>) -> tensor<1x1x4x8xf64>
// CHECK-NOT: tg.gather(%[[XB]]
// the pointwise product on the grid, flat
// CHECK: tg.mul(%{{.*}}, %{{.*}}) : (tensor<32xf64>, tensor<32xf64>) -> tensor<32xf64>
// phi -> m, theta -> l (c folded in), one gather into the output layout, the block transposed back
// CHECK: tg.matmul(%{{.*}}, %{{.*}}) : (tensor<3x4xf64>, tensor<1x1x4x8xf64>) -> tensor<1x1x3x8xf64>
// CHECK: tg.matmul(%{{.*}}, %{{.*}}) : (tensor<1x3x2x2xf64>, tensor<1x1x3x2x4xf64>) -> tensor<1x1x3x2x4xf64>
// CHECK: tg.gather(%{{.*}}, %{{.*}}) {axis = 1 : i64} : (tensor<1x6x4xf64>, tensor<4xi64>) -> tensor<1x4x4xf64>
// CHECK: tg.transpose(%{{.*}}) {perm = array<i64: 0, 2, 1>}
// CHECK: %g = tg.reshape
// The CG product: an outer product of the blocks, one matmul with the CG block.
// CHECK: tg.mul
// CHECK: tg.matmul
// CHECK-NOT: eqv.
// CHECK: func.return
