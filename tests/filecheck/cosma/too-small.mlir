// RUN: not tensorc opt %s -p 'cosma{scratchpad=500}' 2>&1 | filecheck %s
// RUN: not tensorc opt %s -p 'cosma{scratchpad="auto:XX"}' 2>&1 | filecheck %s --check-prefix=BAD

// The middle relu needs 256 + 256 bytes at once: no plan fits 500 bytes.
func.func @main(%x: tensor<4x16xf32>) -> tensor<4x64xf32> {
  %w1 = tg.weight @w1 : tensor<16x64xf32>
  %b = tg.matmul(%x, %w1) {src = "fc1"} : (tensor<4x16xf32>, tensor<16x64xf32>) -> tensor<4x64xf32>
  %c = tg.relu(%b) {src = "act1"} : (tensor<4x64xf32>) -> tensor<4x64xf32>
  func.return %c : tensor<4x64xf32>
}

// CHECK: scratchpad of 500 bytes is smaller than M_R = 512 bytes, the working set (inputs + outputs) of tg.relu (node 'act1')
// BAD: scratchpad 'auto:XX': expected bytes
