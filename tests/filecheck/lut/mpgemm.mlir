// RUN: tensorc opt %s -p lut-mpgemm --split-input-file | filecheck %s
// RUN: tensorc opt %s -p 'lut-mpgemm{form=unsigned table-type=f32 act-group=8}' --split-input-file | filecheck %s --check-prefix=OPTS
// RUN: tensorc opt %s -p lut-mpgemm --split-input-file 2>&1 >/dev/null | filecheck %s --check-prefix=REMARK
// RUN: not tensorc opt %s -p 'lut-mpgemm{form=half}' 2>&1 | filecheck %s --check-prefix=BADFORM

// Codes given as a tg.constant: the planes are computed at compile time into a tg.constant.
// Row 0 holds the 2-bit codes 0 1 2 3 | 3 2 1 0 (packed little-endian: bytes 228, 27), row 1 all 1s.
// Plane i, group j = bit i of the group's 4 codes, code t at bit t: row 0 → 0b1010, 0b0101 (plane 0),
// 0b1100, 0b0011 (plane 1); row 1 → 15, 15 and 0, 0. The rank-3 activation is flattened to M = 6
// rows by the tables and the result reshaped back.
func.func @constant_codes(%x: tensor<2x3x8xf32>) -> tensor<2x3x2xf32> {
  %codes = tg.constant dense<[[228, 27], [85, 85]]> : tensor<2x2xui8>
  %s = tg.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %z = tg.constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
  %y = tg.matmul_nbits(%x, %codes, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "fc"} : (tensor<2x3x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x3x2xf32>
  func.return %y : tensor<2x3x2xf32>
}

// CHECK-LABEL: func.func @constant_codes
// CHECK-NEXT:    %x_tables, %x_tscales = lut.precompute(%x) {K = 8 : i64, form = "signed", table_type = "i8", act_group = 64 : i64, src = "fc"} : (tensor<2x3x8xf32>) -> (tensor<6x2x16xi8>, tensor<6x1xf32>)
// CHECK-NEXT:    %codes_planes = tg.constant dense<{{\[\[\[}}10, 5], [15, 15]], {{\[\[}}12, 3], [0, 0]]]> : tensor<2x2x2xui8>
// CHECK-NOT:     tg.matmul_nbits
// CHECK:         %0 = lut.mpgemm(%x_tables, %x_tscales, %codes_planes, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 64 : i64, form = "signed", src = "fc"} : (tensor<6x2x16xi8>, tensor<6x1xf32>, tensor<2x2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<6x2xf32>
// CHECK-NEXT:    %y = tg.reshape(%0) {shape = array<i64: 2, 3, 2>, src = "fc"} : (tensor<6x2xf32>) -> tensor<2x3x2xf32>
// CHECK-NEXT:    func.return %y

// OPTS-LABEL: func.func @constant_codes
// OPTS:         lut.precompute(%x) {K = 8 : i64, form = "unsigned", table_type = "f32", act_group = 8 : i64, src = "fc"} : (tensor<2x3x8xf32>) -> (tensor<6x2x16xf32>, tensor<6x1xf32>)
// OPTS:         lut.mpgemm({{.*}}) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 8 : i64, form = "unsigned", src = "fc"}

// -----

// Q, K and V read one normalized activation: one precompute serves all three, and since the
// RMSNorm has no other user it is marked for fusion into it.
func.func @shared(%x: tensor<1x8xf32>, %g: tensor<8xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %n = tg.rms_normalization(%x, %g) {src = "norm"} : (tensor<1x8xf32>, tensor<8xf32>) -> tensor<1x8xf32>
  %c = tg.constant dense<[[228, 27], [85, 85]]> : tensor<2x2xui8>
  %s = tg.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %z = tg.constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
  %q = tg.matmul_nbits(%n, %c, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "q"} : (tensor<1x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  %k = tg.matmul_nbits(%n, %c, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "k"} : (tensor<1x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  %v = tg.matmul_nbits(%n, %c, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "v"} : (tensor<1x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  func.return %q, %k, %v : tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}

// CHECK-LABEL: func.func @shared
// CHECK-NEXT:    %n = tg.rms_normalization(%x, %g)
// CHECK-NEXT:    %n_tables, %n_tscales = lut.precompute(%n) {K = 8 : i64, form = "signed", table_type = "i8", act_group = 64 : i64, fuse_producer = 1 : i64, src = "q"}
// CHECK-NOT:     lut.precompute
// CHECK:         %q = lut.mpgemm(%n_tables, %n_tscales, %c_planes, %s, %z) {{.*}} src = "q"
// CHECK-NEXT:    %k = lut.mpgemm(%n_tables, %n_tscales, %c_planes, %s, %z) {{.*}} src = "k"
// CHECK-NEXT:    %v = lut.mpgemm(%n_tables, %n_tscales, %c_planes, %s, %z) {{.*}} src = "v"

// -----

// Codes in a tg.weight: `tensorc opt` has no WeightStore, so they cannot be read; K = 6 is not a
// multiple of 4. Both stay tg.matmul_nbits, with a remark each.
func.func @left_alone(%x: tensor<1x8xf32>, %x6: tensor<1x6xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %c = tg.weight @fc.codes : tensor<2x2xui8>
  %s = tg.weight @fc.scales : tensor<2x1xf32>
  %z = tg.weight @fc.zeros : tensor<2x1xf32>
  %y = tg.matmul_nbits(%x, %c, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "fc"} : (tensor<1x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  %c6 = tg.constant dense<[[1, 2], [3, 0]]> : tensor<2x2xui8>
  %s6 = tg.constant dense<1.0> : tensor<2x1xf32>
  %y6 = tg.matmul_nbits(%x6, %c6, %s6, %s6) {K = 6 : i64, N = 2 : i64, bits = 2 : i64, block_size = 6 : i64, src = "odd"} : (tensor<1x6xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  func.return %y, %y6 : tensor<1x2xf32>, tensor<1x2xf32>
}

// CHECK-LABEL: func.func @left_alone
// CHECK:         %y = tg.matmul_nbits(%x, %c, %s, %z)
// CHECK:         %y6 = tg.matmul_nbits(%x6, %c6, %s6, %s6)
// CHECK-NOT:     lut.

// REMARK: remark: lut-mpgemm: tg.matmul_nbits (node 'fc'): left as it is: the codes are a tg.weight and there is no weight store here (tensorc opt): run the pass through tensorc import/run/compile or tensorc.lower
// REMARK: remark: lut-mpgemm: tg.matmul_nbits (node 'odd'): left as it is: K = 6 is not a multiple of 4 (tables hold groups of 4 activations)

// BADFORM: error: lut-mpgemm: form=half is not signed or unsigned (half tables come from lut-symmetrize)
