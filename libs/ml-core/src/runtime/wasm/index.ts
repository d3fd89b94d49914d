/**
 * wasm kernels for CNN training that @tensorflow/tfjs-backend-wasm 4.22 lacks
 * (conv/depthwise filter and input gradients, UnsortedSegmentSum) or gets
 * wrong (GatherV2 with batchDims, rounding modes in conv/pool, MaxPoolGrad, Sign of subnormals),
 * plus a faster stride-1 Conv2DBackpropInput.
 *
 * They are composed from the wasm backend's own kernels (XNNPACK convolutions,
 * transposes, slices, reductions), so the work stays in WebAssembly and never
 * falls back to the pure-JS cpu backend; the scatter steps of MaxPoolGrad and
 * UnsortedSegmentSum are linear JS passes over wasm memory.
 *
 * One file per kind: compose.ts (the bookkeeping), conv-gradients.ts, scatter.ts,
 * fixes.ts; the registration lists are below.
 */
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from "@tensorflow/tfjs-core";
import { conv2DBackpropFilter, depthwiseConv2dNativeBackpropFilter, depthwiseConv2dNativeBackpropInput, conv2DBackpropInputStride1 } from "./conv-gradients.js";
import { unsortedSegmentSum, maxPoolGrad } from "./scatter.js";
import { gatherWithBatchDims, explicitRounding, aliasSameDtype, signKeepingSubnormals } from "./fixes.js";

/** wasm kernels replaced by a wrapper around the original, and the wrapper. */
const WASM_KERNEL_FIXES: ReadonlyArray<[string, (original: KernelFunc) => KernelFunc]> = [
  ["GatherV2", gatherWithBatchDims],
  ["Sign", signKeepingSubnormals],
  ["Identity", aliasSameDtype],
  ["Cast", aliasSameDtype],
  ...["Conv2D", "DepthwiseConv2dNative", "FusedConv2D", "FusedDepthwiseConv2D", "MaxPool", "AvgPool", "AvgPoolGrad"].map((name) => [name, explicitRounding] as [string, typeof explicitRounding]),
  ["MaxPoolGrad", () => maxPoolGrad],
  ["Conv2DBackpropInput", (original) => conv2DBackpropInputStride1(explicitRounding(original))],
];
/**
 * Kernel functions installed by this runtime (these fixes and the native
 * kernels of native/index.ts); a registered kernel in this set is not wrapped again.
 */
export const runtimeWrappers = new WeakSet<KernelFunc>();

/**
 * Wraps the registered wasm kernel `name` unless it is one of `layer`'s wrappers
 * already (idempotent); true when it wrapped. Every wrapper joins runtimeWrappers.
 */
export function wrapWasmKernel(name: string, wrap: (original: KernelFunc) => KernelFunc, layer = runtimeWrappers): boolean {
  const current = getKernel(name, "wasm");
  if (current == null || layer.has(current.kernelFunc)) return false;
  const kernelFunc = wrap(current.kernelFunc);
  layer.add(kernelFunc);
  runtimeWrappers.add(kernelFunc);
  unregisterKernel(name, "wasm");
  // Keep the original setupFunc: it binds the C++ entry point the original calls.
  registerKernel({ ...current, kernelFunc });
  return true;
}

/** The kernels this module adds to the wasm backend. */
export const WASM_EXTRA_KERNELS: readonly KernelConfig[] = [
  { kernelName: "Conv2DBackpropFilter", backendName: "wasm", kernelFunc: conv2DBackpropFilter },
  { kernelName: "DepthwiseConv2dNativeBackpropFilter", backendName: "wasm", kernelFunc: depthwiseConv2dNativeBackpropFilter },
  { kernelName: "DepthwiseConv2dNativeBackpropInput", backendName: "wasm", kernelFunc: depthwiseConv2dNativeBackpropInput },
  { kernelName: "UnsortedSegmentSum", backendName: "wasm", kernelFunc: unsortedSegmentSum },
];

/**
 * Registers the extra wasm kernels and the fixes above; idempotent. A kernel
 * the installed wasm backend already provides is left alone. Returns the
 * kernel names registered by this call.
 */
export function registerWasmKernels(): string[] {
  const added: string[] = [];
  for (const config of WASM_EXTRA_KERNELS) {
    if (getKernel(config.kernelName, "wasm") == null) {
      registerKernel(config);
      added.push(config.kernelName);
    }
  }
  for (const [name, wrap] of WASM_KERNEL_FIXES) {
    if (wrapWasmKernel(name, wrap)) added.push(name);
  }
  return added;
}
