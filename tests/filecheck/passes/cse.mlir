// RUN: tensorc opt %s -p cse | filecheck %s

// identical ops merge even when they came from different nodes (src differs):
// the first keeps its src. Different attributes or operands keep ops apart.
func.func @cse(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x3xf32>) {
  %w1 = tg.weight @w : tensor<3xf32>
  %w2 = tg.weight @w : tensor<3xf32>
  %a = tg.add(%x, %w1) {src = "node_a"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %b = tg.add(%x, %w2) {src = "node_b"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %t = tg.transpose(%a) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %s1 = tg.softmax(%b) {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %s2 = tg.softmax(%b) {axis = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %a, %s1, %t, %s2 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x3xf32>
}

// CHECK-LABEL: func.func @cse
// CHECK-NEXT:    %w1 = tg.weight @w : tensor<3xf32>
// CHECK-NEXT:    %a = tg.add(%x, %w1) {src = "node_a"}
// CHECK-NEXT:    %t = tg.transpose(%a)
// CHECK-NEXT:    %s1 = tg.softmax(%a) {axis = 0 : i64}
// CHECK-NEXT:    %s2 = tg.softmax(%a) {axis = 1 : i64}
// CHECK-NEXT:    func.return %a, %s1, %t, %s2
