// RUN: tensorc opt %s -p 'bfp-rearrange{block=2}' | filecheck %s
// RUN: tensorc opt %s -p 'bfp-rearrange{block=4}' | filecheck %s --check-prefix=WHOLE
// RUN: tensorc opt %s -p 'bfp-rearrange{block=2 report=true}' 2>&1 >/dev/null | filecheck %s --check-prefix=REPORT
// RUN: not tensorc opt %s -p 'bfp-rearrange{score=calibration}' 2>&1 | filecheck %s --check-prefix=NOSAMPLES

// K's channels (columns of %wk, entries of %bk) have norms 0.4, 16.1, 2.9, 0.04: the
// weight-norm sort puts them in the order 1, 2, 0, 3, and the same permutation goes to the
// columns of %wq, so Q·Kᵀ is unchanged. V is untouched.
func.func @attention(%x: tensor<1x3x4xf32>) -> tensor<1x1x3x3xf32> {
  %wq = tg.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0], [13.0, 14.0, 15.0, 16.0]]> : tensor<4x4xf32>
  %wk = tg.constant dense<[[0.1, 8.0, 1.0, 0.01], [0.2, 6.0, 2.0, 0.02], [0.1, 7.0, 1.5, 0.01], [0.3, 9.0, 1.0, 0.03]]> : tensor<4x4xf32>
  %bk = tg.constant dense<[0.0, 1.0, 0.5, 0.0]> : tensor<4xf32>
  %q0 = tg.matmul(%x, %wq) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %q1 = tg.reshape(%q0) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %q = tg.transpose(%q1) {perm = array<i64: 0, 2, 1, 3>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x3x4xf32>
  %k0 = tg.matmul(%x, %wk) : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %k1 = tg.add(%bk, %k0) : (tensor<4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %k2 = tg.reshape(%k1) {shape = array<i64: 1, 3, 1, 4>} : (tensor<1x3x4xf32>) -> tensor<1x3x1x4xf32>
  %kt = tg.transpose(%k2) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x1x4xf32>) -> tensor<1x1x4x3xf32>
  %s = tg.matmul(%q, %kt) {src = "scores"} : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  func.return %s : tensor<1x1x3x3xf32>
}

// CHECK-LABEL: func.func @attention
// CHECK-NEXT:    %wq_perm = tg.constant dense<{{\[}}[2.000000e+00, 3.000000e+00, 1.000000e+00, 4.000000e+00], [6.000000e+00, 7.000000e+00, 5.000000e+00, 8.000000e+00], [1.000000e+01, 1.100000e+01, 9.000000e+00, 1.200000e+01], [1.400000e+01, 1.500000e+01, 1.300000e+01, 1.600000e+01]]> : tensor<4x4xf32>
// CHECK-NEXT:    %q0 = tg.matmul(%x, %wq_perm)
// CHECK:         %wk_perm = tg.constant dense<{{\[}}[8.000000e+00, 1.000000e+00, 1.000000e-01, 1.000000e-02], [6.000000e+00, 2.000000e+00, 2.000000e-01, 2.000000e-02], [7.000000e+00, 1.500000e+00, 1.000000e-01, 1.000000e-02], [9.000000e+00, 1.000000e+00, 3.000000e-01, 3.000000e-02]]> : tensor<4x4xf32>
// CHECK-NEXT:    %k0 = tg.matmul(%x, %wk_perm)
// CHECK-NEXT:    %bk_perm = tg.constant dense<[1.000000e+00, 5.000000e-01, 0.000000e+00, 0.000000e+00]> : tensor<4xf32>
// CHECK-NEXT:    %k1 = tg.add(%bk_perm, %k0)
// CHECK-NOT:     tg.constant
// CHECK:         %s = tg.matmul(%q, %kt) {src = "scores"}

// One block per head: a permutation inside it changes nothing, so nothing is done.
// WHOLE-LABEL: func.func @attention
// WHOLE:         %q0 = tg.matmul(%x, %wq)
// WHOLE:         %k0 = tg.matmul(%x, %wk)

// REPORT: bfp-rearrange: site 0 'scores' kv-head 0: weight-norm, Q·Kᵀ rel. change {{.*}}, perm [1, 2, 0, 3]

// NOSAMPLES: error: bfp-rearrange{score=calibration} needs sample inputs
