// Odd (antisymmetric) paths never come from a Gaunt product: the cross product is refused, with its reason.
// RUN: tensorc opt %s -p 'cg-to-gaunt{force=true report=true}' 2>&1 | filecheck %s

func.func @cross(%x: tensor<4x3xf64>, %y: tensor<4x3xf64>) -> tensor<4x3xf64> {
  %z = eqv.cg_tp(%x, %y) {irreps_in1 = #eqv.irreps<"1x1o">, irreps_in2 = #eqv.irreps<"1x1o">, irreps_out = #eqv.irreps<"1x1e">, paths = [#eqv.path<0, 0, 0, "uuu", false, 1.0>]} : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  func.return %z : tensor<4x3xf64>
}

// run-time weights cannot be analysed
func.func @runtime(%x: tensor<4x4xf64>, %w: tensor<1xf64>) -> tensor<4x4xf64> {
  %z = eqv.cg_tp(%x, %x, %w) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = [#eqv.path<0, 0, 0, "uuu", true, 1.0>]} : (tensor<4x4xf64>, tensor<4x4xf64>, tensor<1xf64>) -> tensor<4x4xf64>
  func.return %z : tensor<4x4xf64>
}

// CHECK: cg-to-gaunt: eqv.cg_tp [1x1o x 1x1o -> 1x1e, 1 paths]: refuse: odd path 1o x 1o -> 1e (antisymmetric: no Gaunt product computes it); no even path to rewrite
// CHECK: cg-to-gaunt: eqv.cg_tp [1x0e+1x1o x 1x0e+1x1o -> 1x0e+1x1o, 1 paths]: refuse: the weights are not compile-time constants
// CHECK: eqv.cg_tp(
// CHECK: eqv.cg_tp(
// CHECK-NOT: eqv.gaunt_tp
