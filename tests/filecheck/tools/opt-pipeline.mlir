// A named pipeline runs through `tensorc opt` too.
// RUN: tensorc opt %s -p cleanup | filecheck %s
// Unknown passes and options are one-line errors that suggest the right name.
// RUN: not tensorc opt %s -p canonicalise 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not tensorc opt %s -p 'fold-constants{max-sise=4}' 2>&1 | filecheck %s --check-prefix=OPTION
// --print-between-passes comes from xDSL's driver.
// RUN: tensorc opt %s -p canonicalize,dce --print-between-passes | filecheck %s --check-prefix=BETWEEN

func.func @main(%x: tensor<2x3xf32>) -> tensor<6xf32> {
  %s = tg.shape(%x) : (tensor<2x3xf32>) -> tensor<2xi64>
  %n = tg.reduce_prod(%s) {axes = array<i64: 0>, keepdims = 1 : i64} : (tensor<2xi64>) -> tensor<1xi64>
  %u = tg.unsqueeze(%x) {axes = array<i64: 0>} : (tensor<2x3xf32>) -> tensor<1x2x3xf32>
  %f = tg.flatten(%u) {axis = 0 : i64} : (tensor<1x2x3xf32>) -> tensor<1x6xf32>
  %r = tg.reshape(%f) {shape = array<i64: 6>} : (tensor<1x6xf32>) -> tensor<6xf32>
  %a = tg.relu(%r) : (tensor<6xf32>) -> tensor<6xf32>
  %b = tg.relu(%r) : (tensor<6xf32>) -> tensor<6xf32>
  %c = tg.add(%a, %b) : (tensor<6xf32>, tensor<6xf32>) -> tensor<6xf32>
  func.return %c : tensor<6xf32>
}

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %r = tg.reshape(%x) {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
// CHECK-NEXT:    %a = tg.relu(%r)
// CHECK-NEXT:    %c = tg.add(%a, %a)
// CHECK-NEXT:    func.return %c

// UNKNOWN: error: unknown pass 'canonicalise' (did you mean 'canonicalize'
// OPTION: error: pass 'fold-constants' has no option 'max-sise' (did you mean 'max-size'?); options: grow-weights, max-size

// BETWEEN: IR after canonicalize:
// BETWEEN: tg.reshape(%x)
