// RUN: tensorc opt %s | filecheck %s
// RUN: tensorc opt %s --print-op-generic | tensorc opt | filecheck %s

// The format attribute as a tensor encoding: omitted parameters take the family's values.
func.func @roundtrip(%k: tensor<2x4x32xf32>) -> (tensor<2x4x32xf32>, tensor<2x4x32xf32>) {
  %q = bfp.quantize(%k) {axis = 2 : i64} : (tensor<2x4x32xf32>) -> tensor<2x4x32xf32, #bfp.format<bfp12, block = 16>>
  %d = bfp.dequantize(%q) : (tensor<2x4x32xf32, #bfp.format<bfp12, block = 16>>) -> tensor<2x4x32xf32>
  %m = bfp.quantize(%k) {axis = 1 : i64} : (tensor<2x4x32xf32>) -> tensor<2x4x32xf32, #bfp.format<mxfp4, rounding = rna>>
  %e = bfp.dequantize(%m) : (tensor<2x4x32xf32, #bfp.format<mxfp4, rounding = rna>>) -> tensor<2x4x32xf32>
  func.return %d, %e : tensor<2x4x32xf32>, tensor<2x4x32xf32>
}

// CHECK-LABEL: func.func @roundtrip
// CHECK-NEXT:    %q = bfp.quantize(%k) {axis = 2 : i64} : (tensor<2x4x32xf32>) -> tensor<2x4x32xf32, #bfp.format<bfp12, block = 16, mantissa = 4, shared_exp = 8, rounding = rne>>
// CHECK-NEXT:    %d = bfp.dequantize(%q) : (tensor<2x4x32xf32, #bfp.format<bfp12, block = 16, mantissa = 4, shared_exp = 8, rounding = rne>>) -> tensor<2x4x32xf32>
// CHECK-NEXT:    %m = bfp.quantize(%k) {axis = 1 : i64} : (tensor<2x4x32xf32>) -> tensor<2x4x32xf32, #bfp.format<mxfp4, block = 32, mantissa = 1, shared_exp = 8, rounding = rna>>
// CHECK-NEXT:    %e = bfp.dequantize(%m)
