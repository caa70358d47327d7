// eqv ops and attributes round-trip in custom and generic syntax.
// RUN: tensorc opt %s | tensorc opt | filecheck %s
// RUN: tensorc opt %s --print-op-generic | tensorc opt | filecheck %s

func.func @main(%x: tensor<4x4xf64>, %r: tensor<4x3xf64>, %w: tensor<2xf64>, %s: tensor<1x1x2xf64>) -> (tensor<4x4xf64>, tensor<4x9xf64>, tensor<4x4xf64>, tensor<4x4xf64>) {
  %sh = eqv.spherical_harmonics(%r) {irreps_out = #eqv.irreps<"1x0e+1x1o+1x2e">, normalization = "component"} : (tensor<4x3xf64>) -> tensor<4x9xf64>
  %z = eqv.cg_tp(%x, %x) {irreps_in1 = #eqv.irreps<"0e + 1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = [#eqv.path<0, 0, 0, "uuu", false, 0.28209479177387814>, #eqv.path<1, 1, 0, "uuu", false, -0.5>]} : (tensor<4x4xf64>, tensor<4x4xf64>) -> tensor<4x4xf64>
  %g = eqv.gaunt_tp(%x, %x, %s, %s, %s) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, irreps_in2 = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, method = "fft"} : (tensor<4x4xf64>, tensor<4x4xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>, tensor<1x1x2xf64>) -> tensor<4x4xf64>
  %l = eqv.linear(%x, %w) {irreps_in = #eqv.irreps<"1x0e+1x1o">, irreps_out = #eqv.irreps<"1x0e+1x1o">, paths = array<i64: 0, 0, 1, 1>, coeffs = array<f64: 1.0, 1.0>} : (tensor<4x4xf64>, tensor<2xf64>) -> tensor<4x4xf64>
  func.return %z, %sh, %g, %l : tensor<4x4xf64>, tensor<4x9xf64>, tensor<4x4xf64>, tensor<4x4xf64>
}

// CHECK: eqv.spherical_harmonics(%{{.*}}) {irreps_out = #eqv.irreps<"1x0e+1x1o+1x2e">, normalization = "component"}
// CHECK: eqv.cg_tp(%{{.*}}, %{{.*}}) {irreps_in1 = #eqv.irreps<"1x0e+1x1o">, {{.*}}paths = [#eqv.path<0, 0, 0, "uuu", false, 0.28209479177387814>, #eqv.path<1, 1, 0, "uuu", false, -0.5>]}
// CHECK: eqv.gaunt_tp({{.*}}method = "fft"}
// CHECK: eqv.linear({{.*}}paths = array<i64: 0, 0, 1, 1>, coeffs = array<f64: 1.0{{.*}}, 1.0{{.*}}>}
