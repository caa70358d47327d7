// fold-constants fodder: constant and weight subgraphs feeding real math
func.func @main(%x: tensor<3x8xf32>) -> (tensor<3x4xf32>, tensor<3x8xf32>, tensor<2x8xf32>) {
  %w = tg.weight @fc.weight : tensor<4x8xf32>
  %wt = tg.transpose(%w) {perm = array<i64: 1, 0>, src = "fc.weight.T"} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %mm = tg.matmul(%x, %wt) : (tensor<3x8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  %b = tg.weight @fc.bias : tensor<4xf32>
  %two = tg.constant dense<2.0> : tensor<f32>
  %b2 = tg.mul(%b, %two) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %y = tg.add(%mm, %b2) : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %r = tg.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>
  %rs = tg.sqrt(%r) : (tensor<8xf32>) -> tensor<8xf32>
  %z = tg.add(%x, %rs) : (tensor<3x8xf32>, tensor<8xf32>) -> tensor<3x8xf32>
  %table = tg.weight @table : tensor<5x8xf32>
  %idx = tg.constant dense<[4, 1]> : tensor<2xi64>
  %rows = tg.gather(%table, %idx) {axis = 0 : i64} : (tensor<5x8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
  %parts:2 = tg.split(%rows) {axis = 0 : i64, split = array<i64: 1, 1>} : (tensor<2x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>)
  %sum = tg.add(%parts#0, %parts#1) : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
  %g = tg.concat(%sum, %parts#1) {axis = 0 : i64} : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<2x8xf32>
  %zx = tg.slice(%z) {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<3x8xf32>) -> tensor<2x8xf32>
  %out = tg.mul(%g, %zx) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %y, %z, %out : tensor<3x4xf32>, tensor<3x8xf32>, tensor<2x8xf32>
}
