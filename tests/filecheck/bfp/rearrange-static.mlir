// RUN: tensorc opt %s -p 'bfp-rearrange{score=static block=2 report=true}' 2>&1 >/dev/null | filecheck %s
// RUN: tensorc opt %s -p 'bfp-rearrange{score=weight-norm block=2 report=true}' 2>&1 >/dev/null | filecheck %s --check-prefix=WN
// RUN: tensorc opt %s -p 'bfp-rearrange{score=static block=2}' | filecheck %s --check-prefix=IR

// K = LayerNorm(x; γ, β) @ W_k. Column norms of W_k: 3, 1, 2, 0.5, so weight-norm orders the
// channels 0, 2, 1, 3. Channel 1 reads only input 3, whose γ is 10 (and β_3 = 0.2 gives it a
// mean 0.2): static power estimates Σ W² γ² + (Σ W β)² = 9, 100.04, 4, 0.25 -> order 1, 0, 2, 3.
func.func @attention(%x: tensor<1x3x4xf32>) -> tensor<1x1x3x3xf32> {
  %g = tg.constant dense<[1.0, 1.0, 1.0, 10.0]> : tensor<4xf32>
  %b = tg.constant dense<[0.0, 0.0, 0.0, 0.2]> : tensor<4xf32>
  %n = tg.layer_normalization(%x, %g, %b) {axis = -1 : i64, src = "ln"} : (tensor<1x3x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x3x4xf32>
  %wq = tg.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0], [13.0, 14.0, 15.0, 16.0]]> : tensor<4x4xf32>
  %wk = tg.constant dense<[[3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]> : tensor<4x4xf32>
  %q0 = tg.matmul(%n, %wq) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %q1 = tg.reshape(%q0) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %q = tg.transpose(%q1) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x3x4xf32>
  %k0 = tg.matmul(%n, %wk) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k2 = tg.reshape(%k0) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %kt = tg.transpose(%k2) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x4x3xf32>
  %s = tg.matmul(%q, %kt) {src = "scores"} : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  func.return %s : tensor<1x1x3x3xf32>
}

// CHECK: bfp-rearrange: site 0 'scores' kv-head 0: static (from layer_normalization 'ln'), Q·Kᵀ rel. change {{.*}}, perm [1, 0, 2, 3]
// WN: bfp-rearrange: site 0 'scores' kv-head 0: weight-norm, Q·Kᵀ rel. change {{.*}}, perm [0, 2, 1, 3]

// IR:      %wq_perm = tg.constant dense<{{\[}}[2.000000e+00, 1.000000e+00, 3.000000e+00, 4.000000e+00],
// IR:      %wk_perm = tg.constant dense<{{\[}}[0.000000e+00, 3.000000e+00, 2.000000e+00, 0.000000e+00],
