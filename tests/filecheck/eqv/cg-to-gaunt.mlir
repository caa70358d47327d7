// K_p = g_p on every even path of 1x0e+1x1o: K/g = 1 is rank 1, so the product is one Gaunt product.
// RUN: tensorc opt %s -p 'cg-to-gaunt{force=true report=true}' 2>&1 | filecheck %s
// RUN: tensorc opt %s -p 'cg-to-gaunt{report=true}' 2>&1 | filecheck %s --check-prefix=COST

func.func @main(%x: tensor<4x4xf64>, %y: tensor<4x4xf64>) -> tensor<4x4xf64> {
  %z = eqv.cg_tp(%x, %y) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = [#eqv.path<0, 0, 0, "uuu", false, 0.28209479177387814>, #eqv.path<0, 1, 1, "uuu", false, 0.4886025119029199>, #eqv.path<1, 0, 1, "uuu", false, 0.4886025119029199>, #eqv.path<1, 1, 0, "uuu", false, 0.4886025119029199>]} : (tensor<4x4xf64>, tensor<4x4xf64>) -> tensor<4x4xf64>
  func.return %z : tensor<4x4xf64>
}

// CHECK: cg-to-gaunt: eqv.cg_tp [1x0e+1x1o x 1x0e+1x1o -> 1x0e+1x1o, 4 paths]: gaunt rank 1 cost cg
// CHECK-NOT: eqv.cg_tp(
// CHECK: %[[A:.*]] = tg.constant dense<{{.*}}> : tensor<1x1x2xf64>
// CHECK: eqv.gaunt_tp(%x, %y, %{{.*}}, %{{.*}}, %{{.*}}) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, method = "grid"}
// CHECK-NOT: eqv.cg_tp(

// at L = 1 the cost model keeps the CG product, and says so
// COST: refuse rank 1: the cost model prefers CG
// COST: eqv.cg_tp(
