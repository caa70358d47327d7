// a small CNN: conv, batch norm, relu, pool, flatten, gemm
func.func @main(%x: tensor<2x3x8x8xf32>) -> tensor<2x10xf32> {
  %w = tg.weight @conv.weight : tensor<4x3x3x3xf32>
  %cb = tg.weight @conv.bias : tensor<4xf32>
  %y = tg.conv(%x, %w, %cb) {pads = array<i64: 1, 1, 1, 1>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %scale = tg.weight @bn.scale : tensor<4xf32>
  %bias = tg.weight @bn.bias : tensor<4xf32>
  %mean = tg.weight @bn.mean : tensor<4xf32>
  %var0 = tg.weight @bn.var : tensor<4xf32>
  %var = tg.abs(%var0) : (tensor<4xf32>) -> tensor<4xf32>
  %bn = tg.batch_normalization(%y, %scale, %bias, %mean, %var) : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %r = tg.relu(%bn) : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p = tg.max_pool(%r) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  %f = tg.flatten(%p) {axis = 1 : i64} : (tensor<2x4x4x4xf32>) -> tensor<2x64xf32>
  %fw = tg.weight @fc.weight : tensor<10x64xf32>
  %fb = tg.weight @fc.bias : tensor<10xf32>
  %o = tg.gemm(%f, %fw, %fb) {transB = 1 : i64} : (tensor<2x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<2x10xf32>
  func.return %o : tensor<2x10xf32>
}
