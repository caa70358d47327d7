// RUN: tensorc opt %s --verify-diagnostics --split-input-file | filecheck %s

func.func @half_tables_have_8_entries(%x: tensor<1x64xf32>) -> tensor<1x16x16xf32> {
  %t, %ts = lut.precompute(%x) {K = 64 : i64, form = "half", table_type = "f32", act_group = 64 : i64} : (tensor<1x64xf32>) -> (tensor<1x16x16xf32>, tensor<1x1xf32>)
  func.return %t : tensor<1x16x16xf32>
}

// CHECK: lut.precompute: result types (tensor<1x16x16xf32>, tensor<1x1xf32>) do not match inferred (tensor<1x16x8xf32>, tensor<1x1xf32>)

// -----

func.func @i16_needs_i8(%x: tensor<1x64xf32>) -> tensor<1x16x16xi16> {
  %t, %ts = lut.precompute(%x) {K = 64 : i64, form = "signed", table_type = "i16", act_group = 64 : i64} : (tensor<1x64xf32>) -> (tensor<1x16x16xi16>, tensor<1x1xf32>)
  func.return %t : tensor<1x16x16xi16>
}

// CHECK: lut.precompute: table_type i16 needs i8 activations (it is exact only for them: |T| <= 512)

// -----

func.func @bits(%t: tensor<1x16x16xi8>, %ts: tensor<1x1xf32>, %p: tensor<5x16x16xui8>, %s: tensor<16x2xf32>) -> tensor<1x16xf32> {
  %y = lut.mpgemm(%t, %ts, %p, %s, %s) {K = 64 : i64, N = 16 : i64, bits = 5 : i64, group = 32 : i64, act_group = 64 : i64, form = "signed", src = "fc"} : (tensor<1x16x16xi8>, tensor<1x1xf32>, tensor<5x16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x16xf32>
  func.return %y : tensor<1x16xf32>
}

// CHECK: lut.mpgemm (node 'fc'): unsupported bit width 5 (supported: 1, 2, 3, 4)

// -----

func.func @planes(%t: tensor<1x16x16xi8>, %ts: tensor<1x1xf32>, %p: tensor<2x16x8xui8>, %s: tensor<16x2xf32>) -> tensor<1x16xf32> {
  %y = lut.mpgemm(%t, %ts, %p, %s, %s) {K = 64 : i64, N = 16 : i64, bits = 2 : i64, group = 32 : i64, act_group = 64 : i64, form = "signed"} : (tensor<1x16x16xi8>, tensor<1x1xf32>, tensor<2x16x8xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x16xf32>
  func.return %y : tensor<1x16xf32>
}

// CHECK: lut.mpgemm: planes have shape [2, 16, 8], expected [2, 16, 16] (bits × N × K/4)

// -----

func.func @form_mismatch(%t: tensor<1x16x16xi8>, %ts: tensor<1x1xf32>, %p: tensor<2x16x16xui8>, %s: tensor<16x2xf32>) -> tensor<1x16xf32> {
  %y = lut.mpgemm(%t, %ts, %p, %s, %s) {K = 64 : i64, N = 16 : i64, bits = 2 : i64, group = 32 : i64, act_group = 64 : i64, form = "half"} : (tensor<1x16x16xi8>, tensor<1x1xf32>, tensor<2x16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x16xf32>
  func.return %y : tensor<1x16xf32>
}

// CHECK: lut.mpgemm: tables have shape [1, 16, 16], expected [M, 16, 8] (form half, K = 64)

// -----

func.func @groups(%t: tensor<1x24x16xi8>, %ts: tensor<1x4xf32>, %p: tensor<2x16x24xui8>, %s: tensor<16x3xf32>) -> tensor<1x16xf32> {
  %y = lut.mpgemm(%t, %ts, %p, %s, %s) {K = 96 : i64, N = 16 : i64, bits = 2 : i64, group = 32 : i64, act_group = 24 : i64, form = "signed"} : (tensor<1x24x16xi8>, tensor<1x4xf32>, tensor<2x16x24xui8>, tensor<16x3xf32>, tensor<16x3xf32>) -> tensor<1x16xf32>
  func.return %y : tensor<1x16xf32>
}

// CHECK: lut.mpgemm: group = 32 and act_group = 24: one must divide the other
