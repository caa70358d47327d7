// RUN: tensorc opt %s -p fold-constants --split-input-file | filecheck %s
// RUN: tensorc opt %s -p 'fold-constants{max-size=2}' --split-input-file | filecheck %s --check-prefix=SMALL

// an op on constants becomes a constant (keeping its src); consumed constants go
func.func @fold(%x: tensor<3xf32>) -> tensor<3xf32> {
  %a = tg.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %b = tg.constant dense<2.0> : tensor<f32>
  %c = tg.mul(%a, %b) {src = "scale"} : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  %d = tg.neg(%c) : (tensor<3xf32>) -> tensor<3xf32>
  %e = tg.add(%x, %d) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %e : tensor<3xf32>
}

// CHECK-LABEL: func.func @fold
// CHECK-NEXT:    %d = tg.constant dense<[-2.000000e+00, -4.000000e+00, -6.000000e+00]> : tensor<3xf32>
// CHECK-NEXT:    %e = tg.add(%x, %d)

// With max-size=2 the 3-element results stay ops: there is no weight store in `tensorc opt`.
// SMALL-LABEL: func.func @fold
// SMALL:         %c = tg.mul(%a, %b) {src = "scale"}
// SMALL-NEXT:    %d = tg.neg(%c)

// -----

// multi-result ops fold too; ops reading weights wait for a weight store
func.func @split_and_weight() -> (tensor<1xi64>, tensor<2xi64>, tensor<2xf32>) {
  %a = tg.constant dense<[5, 6, 7]> : tensor<3xi64>
  %s:2 = tg.split(%a) {axis = 0 : i64, split = array<i64: 1, 2>} : (tensor<3xi64>) -> (tensor<1xi64>, tensor<2xi64>)
  %w = tg.weight @w : tensor<2xf32>
  %n = tg.neg(%w) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %s#0, %s#1, %n : tensor<1xi64>, tensor<2xi64>, tensor<2xf32>
}

// CHECK-LABEL: func.func @split_and_weight
// CHECK-DAG:     tg.constant dense<5> : tensor<1xi64>
// CHECK-DAG:     tg.constant dense<[6, 7]> : tensor<2xi64>
// CHECK:         %n = tg.neg(%w)

// -----

// results that cannot round-trip through dense<...> text (inf, nan) are not inlined
func.func @non_finite() -> tensor<2xf32> {
  %a = tg.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %b = tg.log(%a) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %b : tensor<2xf32>
}

// CHECK-LABEL: func.func @non_finite
// CHECK:         %b = tg.log(%a)
