// cse fodder: repeated subexpressions from different "nodes"
func.func @main(%x: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %w1 = tg.weight @w : tensor<4x4xf32>
  %w2 = tg.weight @w : tensor<4x4xf32>
  %a = tg.matmul(%x, %w1) {src = "a"} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %b = tg.matmul(%x, %w2) {src = "b"} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %ra = tg.relu(%a) : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %rb = tg.relu(%b) : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %s1 = tg.softmax(%ra) {axis = 0 : i64} : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %s2 = tg.softmax(%rb) {axis = 1 : i64} : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %o = tg.add(%s1, %s2) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %dead = tg.tanh(%o) : (tensor<4x4xf32>) -> tensor<4x4xf32>
  func.return %o, %ra : tensor<4x4xf32>, tensor<4x4xf32>
}
