// RUN: python %S/Inputs/lut_weights.py %t
// RUN: tensorc run %s --weights %t.npz --input in0=%t.x.npy -p 'lut-mpgemm,lut-symmetrize{report=true}' --print-ir-after lut-mpgemm --print-ir-after lut-symmetrize 2>&1 | filecheck %s

// With a WeightStore (`tensorc run/compile file.mlir --weights W.npz`, or tensorc.lower) the planes
// of tg.weight codes are computed into new weights; the packed codes go. Q, K and V share one
// precompute, fused into the RMSNorm that produces their activation; lut-symmetrize then halves
// the tables and re-encodes the planes into `<planes>_half` weights.
func.func @main(%x: tensor<1x2x64xf32>) -> (tensor<1x2x16xf32>, tensor<1x2x16xf32>, tensor<1x2x16xf32>) {
  %g = tg.weight @gamma : tensor<64xf32>
  %n = tg.rms_normalization(%x, %g) {src = "norm"} : (tensor<1x2x64xf32>, tensor<64xf32>) -> tensor<1x2x64xf32>
  %qc = tg.weight @q.codes : tensor<16x32xui8>
  %qs = tg.weight @q.scales : tensor<16x2xf32>
  %qz = tg.weight @q.zeros : tensor<16x2xf32>
  %q = tg.matmul_nbits(%n, %qc, %qs, %qz) {K = 64 : i64, N = 16 : i64, bits = 4 : i64, block_size = 32 : i64, src = "q"} : (tensor<1x2x64xf32>, tensor<16x32xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x2x16xf32>
  %kc = tg.weight @k.codes : tensor<16x16xui8>
  %ks = tg.weight @k.scales : tensor<16x2xf32>
  %kz = tg.weight @k.zeros : tensor<16x2xf32>
  %k = tg.matmul_nbits(%n, %kc, %ks, %kz) {K = 64 : i64, N = 16 : i64, bits = 2 : i64, block_size = 32 : i64, src = "k"} : (tensor<1x2x64xf32>, tensor<16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x2x16xf32>
  %vc = tg.weight @v.codes : tensor<16x16xui8>
  %vs = tg.weight @v.scales : tensor<16x2xf32>
  %vz = tg.weight @v.zeros : tensor<16x2xf32>
  %v = tg.matmul_nbits(%n, %vc, %vs, %vz) {K = 64 : i64, N = 16 : i64, bits = 2 : i64, block_size = 32 : i64, ternary = 1 : i64, src = "v"} : (tensor<1x2x64xf32>, tensor<16x16xui8>, tensor<16x2xf32>, tensor<16x2xf32>) -> tensor<1x2x16xf32>
  func.return %q, %k, %v : tensor<1x2x16xf32>, tensor<1x2x16xf32>, tensor<1x2x16xf32>
}

// CHECK-LABEL: IR Dump After lut-mpgemm
// CHECK:         %n = tg.rms_normalization(%x, %g)
// CHECK-NEXT:    %n_tables, %n_tscales = lut.precompute(%n) {K = 64 : i64, form = "signed", table_type = "i8", act_group = 64 : i64, fuse_producer = 1 : i64, src = "q"} : (tensor<1x2x64xf32>) -> (tensor<2x16x16xi8>, tensor<2x1xf32>)
// CHECK-NEXT:    %qc_planes = tg.weight @q.planes : tensor<4x16x16xui8>
// CHECK:         lut.mpgemm(%n_tables, %n_tscales, %qc_planes, %qs, %qz) {K = 64 : i64, N = 16 : i64, bits = 4 : i64, group = 32 : i64, act_group = 64 : i64, form = "signed", src = "q"}
// CHECK:         %kc_planes = tg.weight @k.planes : tensor<2x16x16xui8>
// CHECK:         lut.mpgemm(%n_tables, %n_tscales, %kc_planes, %ks, %kz)
// CHECK:         %vc_planes = tg.weight @v.planes : tensor<2x16x16xui8>
// CHECK:         lut.mpgemm(%n_tables, %n_tscales, %vc_planes, %vs, %vz)
// CHECK-NOT:     tg.matmul_nbits
// CHECK-NOT:     .codes

// CHECK: lut-symmetrize: lut.precompute (node 'q'): tables 2x16x16xi8 (512 B) -> 2x16x8xi8 (256 B)
// CHECK: lut-symmetrize: table bytes 512 -> 256 (1 precompute(s) symmetrized)

// CHECK-LABEL: IR Dump After lut-symmetrize
// CHECK:         %n_tables, %n_tscales = lut.precompute(%n) {K = 64 : i64, form = "half", table_type = "i8", act_group = 64 : i64, fuse_producer = 1 : i64, src = "q"} : (tensor<1x2x64xf32>) -> (tensor<2x16x8xi8>, tensor<2x1xf32>)
// CHECK:         %qc_planes_half = tg.weight @q.planes_half : tensor<4x16x16xui8>
// CHECK:         lut.mpgemm(%n_tables, %n_tscales, %qc_planes_half, %qs, %qz) {{.*}} form = "half", src = "q"}
// CHECK-NOT:     @q.planes :

// the program still runs (reference interpreter) on the rewritten IR
// CHECK: out0: 1x2x16 float32
// CHECK: out2: 1x2x16 float32
