/**
 * TensorFlow.js runtime: backend selection (tfjs-node-gpu > tfjs-node > wasm > cpu),
 * the wasm kernels and gradients tfjs lacks for CNN training, and kernel checks.
 * Importing this module registers those kernels and gradients.
 */
export {
  BACKEND_CHOICES,
  backendInfo,
  initBackend,
  parseBackendChoice,
  type BackendChoice,
  type BackendInfo,
  type BackendSelection,
  type BackendSkip,
  type ConcreteBackend,
  type InitBackendOptions,
} from "./backend.js";
export { registerExtraGradients, stridedSliceGrad } from "./gradients.js";
export { fakeQuantize, type QuantGrid } from "./fused-ops.js";
export { kernelsUsedBy, listMissingKernels } from "./kernel_check.js";
export {
  FusedActivation,
  addonContract,
  convPrimitives,
  BinaryOp,
  CONV_PARAM_FIELDS,
  ConvDirection,
  MATMUL_PARAM_FIELDS,
  POOL_PARAM_FIELDS,
  type AddonContract,
  NATIVE_BN_GRAD,
  NATIVE_BN_INFERENCE_GRAD,
  NATIVE_BN_RELU,
  NATIVE_ADD_RELU,
  NATIVE_BN_TRAIN,
  NATIVE_CONV_FUSED,
  NATIVE_FOLD_FILTER,
  NATIVE_RELU6_GRAD,
  NATIVE_RELU6_OUTPUT_GRAD,
  NATIVE_RELU_GRAD,
  NATIVE_SGD,
  NATIVE_DROPOUT,
  NATIVE_BN_UPDATE,
  nativeAddonPath,
  nativeKernelCalls,
  nativeApplies,
  nativeKernelsActive,
  nativeStatus,
  registerNativeKernels,
  setNativeKernelsActive,
  type NativeStatus,
} from "./native/index.js";
export { WASM_EXTRA_KERNELS, registerWasmKernels } from "./wasm/index.js";
