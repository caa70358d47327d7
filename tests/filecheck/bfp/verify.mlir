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

// -----

func.func @pack_small_float(%k: tensor<4x32xf32>) -> tensor<4x1x17xui8> {
  %p = bfp.pack(%k) {axis = 1 : i64, format = "mxfp4"} : (tensor<4x32xf32>) -> tensor<4x1x17xui8>
  func.return %p : tensor<4x1x17xui8>
}

// CHECK: bfp.pack: format mxfp4 has no packed storage (integer mantissas of 2, 4 or 8 bits only)

// -----

func.func @unpack_wrong_bytes(%p: tensor<4x2x8xui8>) -> tensor<4x32xf32> {
  %u = bfp.unpack(%p) {axis = 1 : i64, format = "bfp12_16", length = 32 : i64} : (tensor<4x2x8xui8>) -> tensor<4x32xf32>
  func.return %u : tensor<4x32xf32>
}

// CHECK: bfp.unpack: bfp12_16 blocks are 9 bytes, the packed operand's axis 2 is 8

// -----

func.func @unpack_wrong_length(%p: tensor<4x2x9xui8>) -> tensor<4x40xf32> {
  %u = bfp.unpack(%p) {axis = 1 : i64, format = "bfp12_16", length = 40 : i64} : (tensor<4x2x9xui8>) -> tensor<4x40xf32>
  func.return %u : tensor<4x40xf32>
}

// CHECK: bfp.unpack: 2 blocks of 16 do not hold length 40
