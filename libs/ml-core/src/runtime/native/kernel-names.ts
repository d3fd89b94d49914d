// The kernels of our own that the addon provides on the wasm backend (registered by
// registerNativeKernels, with no fallback: ../fused-ops.ts checks nativeApplies() first).
// Each one's inputs, attrs and outputs are documented at its kernel function in this
// directory, its gradient in ../gradients.ts, and what it computes for nn/ and train/ in
// ../fused-ops.ts.

/** Training-mode batch norm (+ ReLU), forward and backward (batch-norm.ts). */
export const NATIVE_BN_TRAIN = "GapBatchNormTrain";
export const NATIVE_BN_GRAD = "GapBatchNormGrad";
/** dx of inference-mode batch norm: dy * scale / sqrt(variance + eps) (batch-norm.ts). */
export const NATIVE_BN_INFERENCE_GRAD = "GapBatchNormInferenceGrad";
/** relu(FusedBatchNorm(x)) in one pass (batch-norm.ts). */
export const NATIVE_BN_RELU = "GapBatchNormRelu";
/** The running statistics' update of a batch norm (batch-norm.ts). */
export const NATIVE_BN_UPDATE = "GapBatchNormUpdate";
/** relu(a + b), the residual add (elementwise.ts). */
export const NATIVE_ADD_RELU = "GapAddRelu";
/** Inference batch norm folded into a conv (+ residual) (+ ReLU or ReLU6) (conv.ts). */
export const NATIVE_CONV_FUSED = "GapFusedConv2D";
/** That conv's folded filter, filter * scale / sqrt(variance + eps), for its input gradient (conv.ts). */
export const NATIVE_FOLD_FILTER = "GapFoldFilter";
/** ReLU's gradient dy * (x > 0), ReLU6's dy * (0 < x <= 6) and ReLU6's from its output, dy * (0 < y < 6) (elementwise.ts). */
export const NATIVE_RELU_GRAD = "GapReluGrad";
export const NATIVE_RELU6_GRAD = "GapRelu6Grad";
export const NATIVE_RELU6_OUTPUT_GRAD = "GapRelu6OutputGrad";
/** One torch.optim.SGD step of a parameter (optimizer.ts). */
export const NATIVE_SGD = "GapSgd";
/** Seeded inverted dropout, the same bits as its JS fallback (dropout.ts). */
export const NATIVE_DROPOUT = "GapDropout";
/** Fake quantization, the same bits as its tf ops (elementwise.ts). */
export const NATIVE_FAKE_QUANTIZE = "GapFakeQuantize";
