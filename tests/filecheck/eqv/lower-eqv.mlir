// lower-eqv leaves only tg ops: grid transforms and CG blocks become matmuls of constants.
// RUN: tensorc opt %s -p 'lower-eqv' | filecheck %s

func.func @main(%x: tensor<4x4xf64>, %s: tensor<1x1x2xf64>) -> (tensor<4x4xf64>, tensor<4x4xf64>) {
  %c = tg.constant dense<[[[1.0, 0.5]]]> : tensor<1x1x2xf64>
  %g = eqv.gaunt_tp(%x, %x, %c, %c, %c) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">} : (tensor<4x4xf64>, tensor<4x4xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>) -> tensor<4x4xf64>
  %z = eqv.cg_tp(%x, %x) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = [#eqv.path<1, 1, 0, "uuu", false, 0.5>]} : (tensor<4x4xf64>, tensor<4x4xf64>) -> tensor<4x4xf64>
  func.return %g, %z : tensor<4x4xf64>, tensor<4x4xf64>
}

// CHECK-NOT: eqv.
// CHECK: tg.transpose(%x) {perm = array<i64: 1, 0>}
// CHECK: tg.gather
// CHECK: tg.matmul
// CHECK: tg.mul
// CHECK-NOT: eqv.
// CHECK: func.return
