// RUN: tensorc opt %s -p dce | filecheck %s

// unused pure ops (weights and constants included) go; returned values stay
func.func @dce(%x: tensor<4xf32>) -> tensor<4xf32> {
  %w = tg.weight @unused : tensor<4xf32>
  %c = tg.constant dense<2.0> : tensor<f32>
  %d = tg.mul(%x, %c) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %e = tg.add(%d, %w) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %r = tg.relu(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// CHECK-LABEL: func.func @dce
// CHECK-NEXT:    %r = tg.relu(%x) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    func.return %r : tensor<4xf32>
