// RUN: tensorc opt %s -p canonicalize --split-input-file | filecheck %s

// flatten / squeeze / unsqueeze become reshapes, and a reshape chain collapses to one
func.func @reshapes(%x: tensor<2x3x4xf32>) -> tensor<1x24xf32> {
  %f = tg.flatten(%x) {axis = 1 : i64, src = "flat"} : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
  %u = tg.unsqueeze(%f) {axes = array<i64: 0>} : (tensor<2x12xf32>) -> tensor<1x2x12xf32>
  %s = tg.squeeze(%u) {axes = array<i64: 0>} : (tensor<1x2x12xf32>) -> tensor<2x12xf32>
  %r = tg.reshape(%s) {shape = array<i64: 1, 24>, src = "last"} : (tensor<2x12xf32>) -> tensor<1x24xf32>
  func.return %r : tensor<1x24xf32>
}

// CHECK-LABEL: func.func @reshapes
// CHECK-NEXT:    %r = tg.reshape(%x) {shape = array<i64: 1, 24>, src = "last"} : (tensor<2x3x4xf32>) -> tensor<1x24xf32>
// CHECK-NEXT:    func.return %r : tensor<1x24xf32>

// -----

// a reshape to the operand's own shape is the operand; a lone squeeze becomes a reshape
func.func @noop_reshape(%x: tensor<2x3xf32>, %y: tensor<1x3xf32>) -> (tensor<2x3xf32>, tensor<3xf32>) {
  %a = tg.reshape(%x) {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
  %b = tg.reshape(%a) {shape = array<i64: 2, 3>} : (tensor<6xf32>) -> tensor<2x3xf32>
  %c = tg.squeeze(%y) {axes = array<i64: 0>, src = "sq"} : (tensor<1x3xf32>) -> tensor<3xf32>
  func.return %b, %c : tensor<2x3xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @noop_reshape
// CHECK-NEXT:    %c = tg.reshape(%y) {shape = array<i64: 3>, src = "sq"} : (tensor<1x3xf32>) -> tensor<3xf32>
// CHECK-NEXT:    func.return %x, %c : tensor<2x3xf32>, tensor<3xf32>

// -----

// transpose(transpose(x, p), q) = transpose(x, [p[q[i]]]); inverse permutations cancel
func.func @transposes(%x: tensor<2x3x4xf32>) -> (tensor<4x2x3xf32>, tensor<2x3x4xf32>) {
  %a = tg.transpose(%x) {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %b = tg.transpose(%a) {perm = array<i64: 1, 2, 0>, src = "t2"} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  %c = tg.transpose(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %d = tg.transpose(%c) {perm = array<i64: 1, 2, 0>} : (tensor<4x2x3xf32>) -> tensor<2x3x4xf32>
  func.return %b, %d : tensor<4x2x3xf32>, tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @transposes
// CHECK-NEXT:    %b = tg.transpose(%x) {perm = array<i64: 2, 0, 1>, src = "t2"} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT:    func.return %b, %x : tensor<4x2x3xf32>, tensor<2x3x4xf32>

// -----

func.func @identity_transpose(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = tg.transpose(%x) {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %a : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @identity_transpose
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>

// -----

// identity and a cast to the same type disappear; a real cast stays
func.func @identity_cast(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %a = tg.identity(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %b = tg.cast(%a) : (tensor<4xf32>) -> tensor<4xf32>
  %c = tg.cast(%b) : (tensor<4xf32>) -> tensor<4xi32>
  func.return %b, %c : tensor<4xf32>, tensor<4xi32>
}

// CHECK-LABEL: func.func @identity_cast
// CHECK-NEXT:    %c = tg.cast(%x) : (tensor<4xf32>) -> tensor<4xi32>
// CHECK-NEXT:    func.return %x, %c : tensor<4xf32>, tensor<4xi32>

// -----

// x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x (splat tg.constant only)
func.func @neutral(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %zero = tg.constant dense<0.0> : tensor<f32>
  %one = tg.constant dense<1.0> : tensor<3xf32>
  %a = tg.add(%x, %zero) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %b = tg.add(%zero, %a) : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %c = tg.sub(%b, %zero) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %d = tg.mul(%c, %one) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %e = tg.mul(%one, %d) : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %f = tg.div(%e, %one) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %f : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @neutral
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>

// -----

// not neutral: 0 - x, 1 / x, a broadcast that grows x, a non-splat constant, a weight
func.func @not_neutral(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %zero = tg.constant dense<0.0> : tensor<f32>
  %one = tg.constant dense<1.0> : tensor<f32>
  %zeros = tg.constant dense<0.0> : tensor<2x3xf32>
  %mixed = tg.constant dense<[0.0, 1.0, 0.0]> : tensor<3xf32>
  %w = tg.weight @zeros : tensor<3xf32>
  %a = tg.sub(%zero, %x) : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  %b = tg.div(%one, %x) : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  %c = tg.add(%x, %zeros) : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %d = tg.add(%x, %mixed) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %e = tg.add(%x, %w) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %a, %b, %c, %d, %e : tensor<3xf32>, tensor<3xf32>, tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @not_neutral
// CHECK:         %a = tg.sub(%zero, %x)
// CHECK-NEXT:    %b = tg.div(%one, %x)
// CHECK-NEXT:    %c = tg.add(%x, %zeros)
// CHECK-NEXT:    %d = tg.add(%x, %mixed)
// CHECK-NEXT:    %e = tg.add(%x, %w)

// -----

// integer neutral elements too; dead pure ops go, what func.return uses stays
func.func @int_and_dce(%x: tensor<4xi64>) -> tensor<4xi64> {
  %one = tg.constant dense<1> : tensor<i64>
  %dead = tg.neg(%x) : (tensor<4xi64>) -> tensor<4xi64>
  %a = tg.mul(%x, %one) : (tensor<4xi64>, tensor<i64>) -> tensor<4xi64>
  %b = tg.abs(%a) : (tensor<4xi64>) -> tensor<4xi64>
  func.return %b : tensor<4xi64>
}

// CHECK-LABEL: func.func @int_and_dce
// CHECK-NEXT:    %b = tg.abs(%x) : (tensor<4xi64>) -> tensor<4xi64>
// CHECK-NEXT:    func.return %b : tensor<4xi64>
