// RUN: tensorc opt %s -p 'bfp-quantize-kv{format=bfp12 block=2}' | filecheck %s
// RUN: tensorc opt %s -p 'bfp-quantize-kv{format=bfp16 block=4 v=true}' | filecheck %s --check-prefix=V
// RUN: tensorc opt %s -p 'bfp-quantize-kv{format=mxfp4},bfp-quantize-kv{format=mxfp4}' | filecheck %s --check-prefix=TWICE

// One head of size 4 over 3 tokens: Q and K are projections, split into heads by
// reshape + transpose (K transposed to [B, H, D, T]), the logits scaled, softmaxed, times V.
func.func @attention(%x: tensor<1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %wq = tg.constant dense<[[1.0, 0.5, 0.0, 0.25], [0.0, 1.0, 0.5, 0.0], [0.5, 0.0, 1.0, 0.5], [0.25, 0.5, 0.0, 1.0]]> : tensor<4x4xf32>
  %wk = tg.constant dense<[[0.1, 8.0, 1.0, 0.01], [0.2, 6.0, 2.0, 0.02], [0.1, 7.0, 1.5, 0.01], [0.3, 9.0, 1.0, 0.03]]> : tensor<4x4xf32>
  %bk = tg.constant dense<[0.0, 1.0, 0.5, 0.0]> : tensor<4xf32>
  %wv = tg.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %q0 = tg.matmul(%x, %wq) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %q1 = tg.reshape(%q0) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %q = tg.transpose(%q1) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x3x4xf32>
  %k0 = tg.matmul(%x, %wk) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k1 = tg.add(%bk, %k0) : (tensor<4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %k2 = tg.reshape(%k1) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %kt = tg.transpose(%k2) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x4x3xf32>
  %v0 = tg.matmul(%x, %wv) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %v1 = tg.reshape(%v0) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %v = tg.transpose(%v1) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x3x4xf32>
  %s = tg.matmul(%q, %kt) {src = "scores"} : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %half = tg.constant dense<0.5> : tensor<f32>
  %ss = tg.mul(%s, %half) : (tensor<1x1x3x3xf32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  %p = tg.softmax(%ss) {axis = -1 : i64} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %o = tg.matmul(%p, %v) {src = "context"} : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  func.return %o : tensor<1x1x3x4xf32>
}

// K is quantized where the logits read it, blocks along its channel axis (2 of [B, H, D, T]).
// CHECK-LABEL: func.func @attention
// CHECK:         %kt = tg.transpose(%k2)
// CHECK:         %[[Q:.*]] = bfp.quantize(%kt) {axis = 2 : i64, src = "scores/kv"} : (tensor<1x1x4x3xf32>) -> tensor<1x1x4x3xf32, #bfp.format<bfp12, block = 2, mantissa = 4, shared_exp = 8, rounding = rne>>
// CHECK-NEXT:    %[[D:.*]] = bfp.dequantize(%[[Q]]) {src = "scores/kv"}
// CHECK-NEXT:    %s = tg.matmul(%q, %[[D]]) {src = "scores"}
// CHECK:         %o = tg.matmul(%p, %v) {src = "context"}

// V too with v=true, along V's channel axis (3 of [B, H, T, D]).
// V-LABEL: func.func @attention
// V:         bfp.quantize(%kt) {axis = 2 : i64, src = "scores/kv"} : {{.*}}#bfp.format<bfp16, block = 4
// V:         %[[VQ:.*]] = bfp.quantize(%v) {axis = 3 : i64, src = "context/kv"} : {{.*}}#bfp.format<bfp16, block = 4
// V-NEXT:    %[[VD:.*]] = bfp.dequantize(%[[VQ]])
// V-NEXT:    %o = tg.matmul(%p, %[[VD]]) {src = "context"}

// Running the pass twice changes nothing the second time.
// TWICE-COUNT-1: bfp.quantize
// TWICE-NOT:     bfp.quantize
