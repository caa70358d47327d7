// RUN: tensorc opt %s -p 'bfp-pack' | filecheck %s
// RUN: tensorc opt %s -p 'bfp-pack{fuse=false}' | filecheck %s --check-prefix=NOFUSE
// RUN: tensorc opt %s -p 'bfp-pack{report=true}' 2>&1 >/dev/null | filecheck %s --check-prefix=REPORT

// K [1, 2, 16, 5] (blocks of 8 along D = 16) read by Q·Kᵀ: packed [1, 2, 2 blocks, 1 + 8/2 bytes, 5] ui8,
// read through bfp.matmul. The same K read by an add gets a bfp.unpack.
func.func @kcache(%q: tensor<1x2x3x16xf32>, %k: tensor<1x2x16x5xf32>) -> (tensor<1x2x3x5xf32>, tensor<1x2x16x5xf32>) {
  %e = bfp.quantize(%k) {axis = 2 : i64} : (tensor<1x2x16x5xf32>) -> tensor<1x2x16x5xf32, #bfp.format<bfp12, block = 8>>
  %kq = bfp.dequantize(%e) : (tensor<1x2x16x5xf32, #bfp.format<bfp12, block = 8>>) -> tensor<1x2x16x5xf32>
  %s = tg.matmul(%q, %kq) {src = "scores"} : (tensor<1x2x3x16xf32>, tensor<1x2x16x5xf32>) -> tensor<1x2x3x5xf32>
  %other = tg.add(%kq, %kq) : (tensor<1x2x16x5xf32>, tensor<1x2x16x5xf32>) -> tensor<1x2x16x5xf32>
  func.return %s, %other : tensor<1x2x3x5xf32>, tensor<1x2x16x5xf32>
}

// CHECK-LABEL: func.func @kcache
// CHECK-NEXT:    %k_packed = bfp.pack(%k) {axis = 2 : i64, format = "bfp12_8"} : (tensor<1x2x16x5xf32>) -> tensor<1x2x2x5x5xui8>
// CHECK-NEXT:    %[[U:.*]] = bfp.unpack(%k_packed) {axis = 2 : i64, format = "bfp12_8", length = 16 : i64} : (tensor<1x2x2x5x5xui8>) -> tensor<1x2x16x5xf32>
// CHECK-NEXT:    %s = bfp.matmul(%q, %k_packed) {format = "bfp12_8", length = 16 : i64, src = "scores"} : (tensor<1x2x3x16xf32>, tensor<1x2x2x5x5xui8>) -> tensor<1x2x3x5xf32>
// CHECK-NEXT:    %other = tg.add(%[[U]], %[[U]])
// CHECK-NOT:     bfp.quantize
// CHECK-NOT:     bfp.dequantize

// NOFUSE:        %[[U:.*]] = bfp.unpack(%k_packed)
// NOFUSE-NEXT:   %s = tg.matmul(%q, %[[U]])

// A small-float format stays fake-quantized (bfp-expand lowers it).
func.func @mx(%k: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %e = bfp.quantize(%k) {axis = 1 : i64} : (tensor<4x32xf32>) -> tensor<4x32xf32, #bfp.format<mxfp4>>
  %kq = bfp.dequantize(%e) : (tensor<4x32xf32, #bfp.format<mxfp4>>) -> tensor<4x32xf32>
  func.return %kq : tensor<4x32xf32>
}

// CHECK-LABEL: func.func @mx
// CHECK-NEXT:    bfp.quantize

// REPORT: bfp-pack: '?' [1, 2, 16, 5] bfp12_8: packed [1, 2, 2, 5, 5] ui8, 100 bytes (f32: 640); 1 fused matmul read(s), 2 unpacked read(s)
// REPORT: bfp-pack: '?' [4, 32] mxfp4: left as f32 (small-float elements are not packed)
