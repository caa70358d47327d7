// RUN: tensorc opt %s --verify-diagnostics --split-input-file | filecheck %s

func.func @no_encoding(%k: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %q = bfp.quantize(%k) {axis = 1 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %q : tensor<4x16xf32>
}

// CHECK: bfp.quantize: result type must carry a #bfp.format encoding

// -----

func.func @plain_dequantize(%k: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %d = bfp.dequantize(%k) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %d : tensor<4x16xf32>
}

// CHECK: bfp.dequantize: operand must carry a #bfp.format encoding

// -----

func.func @axis(%k: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %q = bfp.quantize(%k) {axis = 2 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32, #bfp.format<bfp16, block = 8>>
  %d = bfp.dequantize(%q) : (tensor<4x16xf32, #bfp.format<bfp16, block = 8>>) -> tensor<4x16xf32>
  func.return %d : tensor<4x16xf32>
}

// CHECK: bfp.quantize: axis 2 out of range for rank 2

// -----

func.func @mantissa(%k: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %q = bfp.quantize(%k) : (tensor<4x16xf32>) -> tensor<4x16xf32, #bfp.format<bfp12, block = 8, mantissa = 5>>
  %d = bfp.dequantize(%q) : (tensor<4x16xf32, #bfp.format<bfp12, block = 8, mantissa = 5>>) -> tensor<4x16xf32>
  func.return %d : tensor<4x16xf32>
}

// CHECK: #bfp.format: bfp12 has 4-bit mantissas, not 5
