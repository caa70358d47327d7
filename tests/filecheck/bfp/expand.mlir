// RUN: tensorc opt %s -p bfp-expand | filecheck %s

// bfp-expand turns the quantize/dequantize pair into tg arithmetic with the same bits:
// blocks by reshape, the shared exponent through an E8M0 cast, round-half-even mantissas.
func.func @k(%k: tensor<2x4x32xf32>) -> tensor<2x4x32xf32> {
  %q = bfp.quantize(%k) {axis = 2 : i64} : (tensor<2x4x32xf32>) -> tensor<2x4x32xf32, #bfp.format<bfp12, block = 16>>
  %d = bfp.dequantize(%q) : (tensor<2x4x32xf32, #bfp.format<bfp12, block = 16>>) -> tensor<2x4x32xf32>
  func.return %d : tensor<2x4x32xf32>
}

// CHECK-LABEL: func.func @k
// CHECK-NOT:     bfp.
// CHECK:         %[[B:.*]] = tg.reshape(%k) {shape = array<i64: 2, 4, 2, 16>} : (tensor<2x4x32xf32>) -> tensor<2x4x2x16xf32>
// CHECK-NEXT:    %[[A:.*]] = tg.abs(%[[B]])
// CHECK-NEXT:    %[[M:.*]] = tg.reduce_max(%[[A]]) {axes = array<i64: 3>, keepdims = 1 : i64}
// CHECK:         %[[E:.*]] = tg.cast(%[[M]]) : (tensor<2x4x2x1xf32>) -> tensor<2x4x2x1xf8E8M0FNU>
// CHECK-NEXT:    tg.cast(%[[E]]) : (tensor<2x4x2x1xf8E8M0FNU>) -> tensor<2x4x2x1xf32>
// CHECK:         %[[R:.*]] = tg.round
// CHECK:         tg.is_nan
// CHECK:         %[[Y:.*]] = tg.where
// CHECK-NEXT:    %d = tg.reshape(%[[Y]]) {shape = array<i64: 2, 4, 32>} : (tensor<2x4x2x16xf32>) -> tensor<2x4x32xf32>
// CHECK-NEXT:    func.return %d : tensor<2x4x32xf32>
