// canonicalize fodder: layout chains, identities and neutral elements around real math
func.func @main(%x: tensor<2x3x4xf32>, %y: tensor<4x5xf32>) -> (tensor<6x5xf32>, tensor<4x2x3xf32>, tensor<24xf32>) {
  %f = tg.flatten(%x) {axis = 2 : i64} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %u = tg.unsqueeze(%f) {axes = array<i64: 0>} : (tensor<6x4xf32>) -> tensor<1x6x4xf32>
  %s = tg.squeeze(%u) {axes = array<i64: 0>} : (tensor<1x6x4xf32>) -> tensor<6x4xf32>
  %zero = tg.constant dense<0.0> : tensor<f32>
  %one = tg.constant dense<1.0> : tensor<4xf32>
  %one5 = tg.constant dense<1.0> : tensor<5xf32>
  %a = tg.add(%s, %zero) : (tensor<6x4xf32>, tensor<f32>) -> tensor<6x4xf32>
  %m = tg.mul(%one, %a) : (tensor<4xf32>, tensor<6x4xf32>) -> tensor<6x4xf32>
  %i = tg.identity(%m) : (tensor<6x4xf32>) -> tensor<6x4xf32>
  %mm = tg.matmul(%i, %y) : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32>
  %d = tg.div(%mm, %one5) : (tensor<6x5xf32>, tensor<5xf32>) -> tensor<6x5xf32>
  %t1 = tg.transpose(%x) {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %t2 = tg.transpose(%t1) {perm = array<i64: 1, 2, 0>} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  %e = tg.exp(%t2) : (tensor<4x2x3xf32>) -> tensor<4x2x3xf32>
  %c = tg.cast(%e) : (tensor<4x2x3xf32>) -> tensor<4x2x3xf32>
  %r1 = tg.reshape(%x) {shape = array<i64: 6, 4>} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
  %r2 = tg.reshape(%r1) {shape = array<i64: 24>} : (tensor<6x4xf32>) -> tensor<24xf32>
  %sub = tg.sub(%r2, %zero) : (tensor<24xf32>, tensor<f32>) -> tensor<24xf32>
  func.return %d, %c, %sub : tensor<6x5xf32>, tensor<4x2x3xf32>, tensor<24xf32>
}
