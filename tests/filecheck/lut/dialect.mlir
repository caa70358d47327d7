// RUN: tensorc opt %s | filecheck %s
// RUN: tensorc opt %s --print-op-generic | tensorc opt | filecheck %s

// Both ops in every table form and type; the integer path (i8 activations, i16 tables) included.
func.func @roundtrip(%x: tensor<2x3x64xf32>, %a: tensor<5x64xi8>, %p: tensor<3x16x16xui8>, %s: tensor<16x2xf32>, %z: tensor<16x2xf32>) -> (tensor<6x16xf32>, tensor<5x16xf32>) {
  %t, %ts = lut.precompute(%x) {K = 64 : i64, form = "signed", table_type = "i8", act_group = 64 : i64, fuse_producer = 1 : i64} : (tensor<2x3x64xf32>) -> (tensor<6x16x16xi8>, tensor<6x1xf32>)
  %y = lut.mpgemm(%t, %ts, %p, %s, %z) {K = 64 : i64, N = 16 : i64, bits = 3 : i64, group = 32 : i64, act_group = 64 : i64, form = "signed"} : (tensor<6x16x16xi8>, tensor<6x1xf32>, tensor<3x16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<6x16xf32>
  %h, %hs = lut.precompute(%a) {K = 64 : i64, form = "half", table_type = "i16", act_group = 16 : i64} : (tensor<5x64xi8>) -> (tensor<5x16x8xi16>, tensor<5x4xf32>)
  %y2 = lut.mpgemm(%h, %hs, %p, %s, %z) {K = 64 : i64, N = 16 : i64, bits = 3 : i64, group = 32 : i64, act_group = 16 : i64, form = "half"} : (tensor<5x16x8xi16>, tensor<5x4xf32>, tensor<3x16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<5x16xf32>
  func.return %y, %y2 : tensor<6x16xf32>, tensor<5x16xf32>
}

// CHECK-LABEL: func.func @roundtrip
// CHECK-NEXT:    %t, %ts = lut.precompute(%x) {K = 64 : i64, form = "signed", table_type = "i8", act_group = 64 : i64, fuse_producer = 1 : i64} : (tensor<2x3x64xf32>) -> (tensor<6x16x16xi8>, tensor<6x1xf32>)
// CHECK-NEXT:    %y = lut.mpgemm(%t, %ts, %p, %s, %z) {K = 64 : i64, N = 16 : i64, bits = 3 : i64, group = 32 : i64, act_group = 64 : i64, form = "signed"} : (tensor<6x16x16xi8>, tensor<6x1xf32>, tensor<3x16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<6x16xf32>
// CHECK-NEXT:    %h, %hs = lut.precompute(%a) {K = 64 : i64, form = "half", table_type = "i16", act_group = 16 : i64} : (tensor<5x64xi8>) -> (tensor<5x16x8xi16>, tensor<5x4xf32>)
// CHECK-NEXT:    %y2 = lut.mpgemm(%h, %hs, %p, %s, %z)
