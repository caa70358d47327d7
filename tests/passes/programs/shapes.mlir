// fold-shapes fodder: shapes used as data
func.func @main(%x: tensor<2x3x4xf32>, %k: tensor<3xi64>) -> (tensor<3xf32>, tensor<2x3x4xf32>, tensor<3xi64>) {
  %s = tg.shape(%x) : (tensor<2x3x4xf32>) -> tensor<3xi64>
  %n = tg.size(%x) : (tensor<2x3x4xf32>) -> tensor<i64>
  %tail = tg.shape(%x) {start = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2xi64>
  %p = tg.reduce_prod(%tail) {axes = array<i64: 0>, keepdims = 1 : i64} : (tensor<2xi64>) -> tensor<1xi64>
  %head = tg.slice(%s) {starts = array<i64: 0>, ends = array<i64: 1>, axes = array<i64: 0>, steps = array<i64: 1>} : (tensor<3xi64>) -> tensor<1xi64>
  %c = tg.concat(%head, %p) {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
  %big = tg.greater(%s, %head) : (tensor<3xi64>, tensor<1xi64>) -> tensor<3xi1>
  %sel = tg.where(%big, %s, %k) : (tensor<3xi1>, tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  %sf = tg.cast(%s) : (tensor<3xi64>) -> tensor<3xf32>
  %nf = tg.cast(%n) : (tensor<i64>) -> tensor<f32>
  %ratio = tg.div(%sf, %nf) : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  %scale = tg.reduce_sum(%c) {axes = array<i64: 0>, keepdims = 0 : i64} : (tensor<2xi64>) -> tensor<i64>
  %scalef = tg.cast(%scale) : (tensor<i64>) -> tensor<f32>
  %xs = tg.mul(%x, %scalef) : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
  func.return %ratio, %xs, %sel : tensor<3xf32>, tensor<2x3x4xf32>, tensor<3xi64>
}
