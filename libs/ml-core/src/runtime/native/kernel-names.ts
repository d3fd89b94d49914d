// The kernels of our own that the addon provides on the wasm backend (registered by
// registerNativeKernels, with no fallback: ../fused-ops.ts checks nativeApplies() first). Their
// gradients are in ../gradients.ts; ../fused-ops.ts runs them for nn/ and train/.

/** Training-mode batch norm, forward and backward (../fused-ops.ts). */
export const NATIVE_BN_TRAIN = "GapBatchNormTrain";
export const NATIVE_BN_GRAD = "GapBatchNormGrad";
/** dx of inference-mode batch norm: dy * scale / sqrt(variance + eps) (runtime/gradients.ts). */
export const NATIVE_BN_INFERENCE_GRAD = "GapBatchNormInferenceGrad";
/**
 * relu(FusedBatchNorm(x)) in one pass (inference; ../fused-ops.ts). Same inputs and
 * attrs as FusedBatchNorm; its gradient is in runtime/gradients.ts.
 */
export const NATIVE_BN_RELU = "GapBatchNormRelu";
/** relu(a + b) of two same-shape float32 tensors in one pass (the residual add; ../fused-ops.ts). */
export const NATIVE_ADD_RELU = "GapAddRelu";
/**
 * Inference batch norm folded into a conv (PyTorch's fuse_conv_bn_weights), NHWC
 * float32: inputs x, filter, scale, offset, mean, variance, residual (optional);
 * attrs strides, pad, activation ("none", "relu", "relu6"), depthwise (the filter
 * is [KH, KW, C, multiplier]), eps. Outputs
 *   y = act(conv2d(x, filter * a) + offset - mean * a (+ residual)),
 *   the folded filter * a (kept for the input gradient),
 * a = scale / sqrt(variance + eps) per output channel: the fold and the weight
 * reorder in one native pass, then one oneDNN inference conv with the add and the
 * activation as post-ops (../fused-ops.ts). Gradients in runtime/gradients.ts.
 */
export const NATIVE_CONV_FUSED = "GapFusedConv2D";
/** ReLU6's gradient dy * (0 < x <= 6) in one pass (runtime/gradients.ts). */
export const NATIVE_RELU6_GRAD = "GapRelu6Grad";
/** ReLU6's gradient from its output y, dy * (0 < y < 6), in one pass (the fused conv's; runtime/gradients.ts). */
export const NATIVE_RELU6_OUTPUT_GRAD = "GapRelu6OutputGrad";
/** ReLU's gradient dy * (x > 0) in one pass (runtime/gradients.ts). */
export const NATIVE_RELU_GRAD = "GapReluGrad";
/**
 * One torch.optim.SGD step of a float32 parameter (sgdUpdate, ../fused-ops.ts): inputs param,
 * grad, buffer (the momentum buffer; absent on the first step); attrs lr,
 * momentum, weightDecay, nesterov. Outputs the new param and, with momentum > 0,
 * the new buffer: the float32 operations of sgdUpdate's tf ops in their order (bit
 * for bit), in one kernel instead of up to eight.
 */
export const NATIVE_SGD = "GapSgd";
/**
 * The running statistics' update of a batch norm (../fused-ops.ts): inputs
 * runningMean, runningVar, mean, variance (float32 [C]); attr momentum. Outputs
 * running * (1 - momentum) + batch * momentum for both (bit for bit the tf ops).
 */
export const NATIVE_BN_UPDATE = "GapBatchNormUpdate";
/**
 * Inverted dropout of a float32 tensor: input x; attrs rate, seed (uint32). Output
 * x * dropoutMultiplier(rate, seed) (../fused-ops.ts) in one threaded pass, the same
 * bits as its JS fallback. Linear in x: its gradient is the same kernel on dy.
 */
export const NATIVE_DROPOUT = "GapDropout";
/**
 * Fake quantization of a float32 tensor: input x; attrs scale, zeroPoint, qmin, qmax.
 * Output (clamp(round(x / scale) + zeroPoint, qmin, qmax) - zeroPoint) * scale, ties
 * to even, in one threaded pass: the same bits as its tf ops (../fused-ops.ts). No
 * gradient (int8 models are attacked through their float counterparts).
 */
export const NATIVE_FAKE_QUANTIZE = "GapFakeQuantize";
