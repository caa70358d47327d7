// `tensorc import` on the bundled example: tg IR on stdout, per-pass dumps on stderr,
// and the printed IR parses back.
// RUN: tensorc import %S/../../../tools/examples/tiny_transformer.onnx -p cleanup | filecheck %s
// RUN: tensorc import %S/../../../tools/examples/tiny_transformer.onnx -p cleanup | tensorc opt | filecheck %s
// RUN: tensorc import %S/../../../tools/examples/tiny_transformer.onnx -p canonicalize,cse --print-ir-after-all 2>&1 >/dev/null | filecheck %s --check-prefix=DUMPS
// RUN: not tensorc import %S/missing.onnx 2>&1 | filecheck %s --check-prefix=MISSING

// CHECK:      func.func @main(%x: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
// CHECK:        tg.weight @attn.q.weight : tensor<64x64xf32>
// CHECK:        tg.matmul(%x,
// CHECK:        tg.softmax
// CHECK:        func.return

// DUMPS:      // -----// IR Dump After canonicalize //----- //
// DUMPS-NEXT: builtin.module {
// DUMPS:      // -----// IR Dump After cse //----- //

// MISSING: error: {{.*}}missing.onnx: no such file
