import { dispose, getKernel, profile, tidy, type TensorContainer } from "@tensorflow/tfjs-core";

/**
 * Kernel names (deduplicated, in first-seen order) that have no
 * implementation registered for `backend`. Running any of them there would fail.
 */
export function listMissingKernels(kernelNames: string[], backend: string): string[] {
  return [...new Set(kernelNames)].filter((name) => getKernel(name, backend) == null);
}

/**
 * Runs `f` under the engine's profiler and returns the sorted names of the
 * kernels it dispatched, gradients included. `f` runs inside tidy, and the
 * tensors it returns are disposed too.
 * The profiler also lists custom-gradient op scopes ("logSoftmax__op"); those
 * are not kernels and are left out.
 */
export async function kernelsUsedBy(f: () => TensorContainer): Promise<string[]> {
  const info = await profile(() => tidy(f));
  dispose(info.result);
  return [...new Set(info.kernelNames)].filter((name) => !name.endsWith("__op")).sort();
}

