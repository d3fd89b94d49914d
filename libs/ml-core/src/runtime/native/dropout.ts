/** Seeded inverted dropout as one threaded pass. */
import { util, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { NativeCall, type KernelArgs } from "./addon.js";
import { NATIVE_DROPOUT } from "./kernel-names.js";

/** GapDropout: input x; attrs rate, seed (uint32). Output x * dropoutMultiplier(rate, seed) (../fused-ops.ts), the same bits; its gradient is itself on dy. */
export function dropout(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  const { rate, seed } = args.attrs as unknown as { rate: number; seed: number };
  if (x!.dtype !== "float32") throw new Error(`${NATIVE_DROPOUT}: x must be float32`);
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_DROPOUT);
  const y = call.output(x!.shape);
  call.dropout(x!, y, util.sizeFromShape(x!.shape), rate, seed);
  return y;
}
