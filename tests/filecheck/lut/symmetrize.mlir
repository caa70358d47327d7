// RUN: tensorc opt %s -p lut-symmetrize --split-input-file | filecheck %s
// RUN: tensorc opt %s -p 'lut-symmetrize{report=true}' --split-input-file 2>&1 >/dev/null | filecheck %s --check-prefix=REPORT
// RUN: tensorc opt %s -p 'lut-mpgemm,lut-symmetrize' --split-input-file | filecheck %s --check-prefix=PIPE
// RUN: tensorc opt %s -p lut --split-input-file | filecheck %s --check-prefix=PIPE

// Signed tables of 16 entries become 8-entry half tables; the planes are re-encoded offline:
// byte = sel | neg << 3, (sel, neg) = (idx >> 1, 0) for odd idx, (((~idx) & 15) >> 1, 1) for even:
// 10 → 2|8 = 10, 5 → 2, 15 → 7, 12 → 1|8 = 9, 3 → 1, 0 → 7|8 = 15.
func.func @signed(%a: tensor<1x8xi8>) -> tensor<1x2xf32> {
  %t, %ts = lut.precompute(%a) {K = 8 : i64, form = "signed", table_type = "i16", act_group = 8 : i64} : (tensor<1x8xi8>) -> (tensor<1x2x16xi16>, tensor<1x1xf32>)
  %p = tg.constant dense<[[[10, 5], [15, 15]], [[12, 3], [0, 0]]]> : tensor<2x2x2xui8>
  %s = tg.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %z = tg.constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
  %y = lut.mpgemm(%t, %ts, %p, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 8 : i64, form = "signed", src = "fc"} : (tensor<1x2x16xi16>, tensor<1x1xf32>, tensor<2x2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// CHECK-LABEL: func.func @signed
// CHECK-NEXT:    %t, %ts = lut.precompute(%a) {K = 8 : i64, form = "half", table_type = "i16", act_group = 8 : i64} : (tensor<1x8xi8>) -> (tensor<1x2x8xi16>, tensor<1x1xf32>)
// CHECK-NEXT:    %p_half = tg.constant dense<{{\[\[\[}}10, 2], [7, 7]], {{\[\[}}9, 1], [15, 15]]]> : tensor<2x2x2xui8>
// CHECK-NOT:     dense<{{\[\[\[}}10, 5]
// CHECK:         %y = lut.mpgemm(%t, %ts, %p_half, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 8 : i64, form = "half", src = "fc"} : (tensor<1x2x8xi16>, tensor<1x1xf32>, tensor<2x2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>

// REPORT: lut-symmetrize: lut.precompute: tables 1x2x16xi16 (64 B) -> 1x2x8xi16 (32 B)
// REPORT: lut-symmetrize: table bytes 64 -> 32 (1 precompute(s) symmetrized)

// -----

// Planes in a tg.weight cannot be read without a WeightStore: left alone, with a remark.
// Half tables are already symmetric: nothing to do.
func.func @left_alone(%a: tensor<1x8xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %t, %ts = lut.precompute(%a) {K = 8 : i64, form = "unsigned", table_type = "i8", act_group = 8 : i64, src = "w"} : (tensor<1x8xf32>) -> (tensor<1x2x16xi8>, tensor<1x1xf32>)
  %p = tg.weight @fc.planes : tensor<2x2x2xui8>
  %s = tg.weight @fc.scales : tensor<2x1xf32>
  %z = tg.weight @fc.zeros : tensor<2x1xf32>
  %y = lut.mpgemm(%t, %ts, %p, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 8 : i64, form = "unsigned"} : (tensor<1x2x16xi8>, tensor<1x1xf32>, tensor<2x2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  %h, %hs = lut.precompute(%a) {K = 8 : i64, form = "half", table_type = "f32", act_group = 8 : i64} : (tensor<1x8xf32>) -> (tensor<1x2x8xf32>, tensor<1x1xf32>)
  %y2 = lut.mpgemm(%h, %hs, %p, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, group = 8 : i64, act_group = 8 : i64, form = "half"} : (tensor<1x2x8xf32>, tensor<1x1xf32>, tensor<2x2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  func.return %y, %y2 : tensor<1x2xf32>, tensor<1x2xf32>
}

// CHECK-LABEL: func.func @left_alone
// CHECK:         lut.precompute(%a) {K = 8 : i64, form = "unsigned"
// CHECK:         lut.precompute(%a) {K = 8 : i64, form = "half"

// REPORT: remark: lut-symmetrize: lut.precompute (node 'w'): left as it is: the planes of lut.mpgemm are a tg.weight and there is no weight store here (tensorc opt): run the pass through tensorc import/run/compile
// REPORT: lut-symmetrize: table bytes 96 -> 96 (0 precompute(s) symmetrized)

// -----

// The whole path in `tensorc opt` when the codes are constants.
func.func @pipeline(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %codes = tg.constant dense<[[228, 27], [85, 85]]> : tensor<2x2xui8>
  %s = tg.constant dense<[[0.5], [2.0]]> : tensor<2x1xf32>
  %z = tg.constant dense<[[1.0], [2.0]]> : tensor<2x1xf32>
  %y = tg.matmul_nbits(%x, %codes, %s, %z) {K = 8 : i64, N = 2 : i64, bits = 2 : i64, block_size = 8 : i64, src = "fc"} : (tensor<1x8xf32>, tensor<2x2xui8>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// PIPE-LABEL: func.func @pipeline
// PIPE-NEXT:    %x_tables, %x_tscales = lut.precompute(%x) {K = 8 : i64, form = "half", table_type = "i8", act_group = 64 : i64, src = "fc"} : (tensor<1x8xf32>) -> (tensor<1x2x8xi8>, tensor<1x1xf32>)
// PIPE-NEXT:    %codes_planes_half = tg.constant dense<{{\[\[\[}}10, 2], [7, 7]], {{\[\[}}9, 1], [15, 15]]]> : tensor<2x2x2xui8>
// PIPE:         %y = lut.mpgemm(%x_tables, %x_tscales, %codes_planes_half, %s, %z) {{.*}} form = "half", src = "fc"}
