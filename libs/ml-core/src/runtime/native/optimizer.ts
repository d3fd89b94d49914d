/** The optimizer step: torch.optim.SGD's update of one parameter as one pass. */
import { util, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { sameShape } from "../padding.js";
import { NativeCall, type KernelArgs } from "./addon.js";
import { NATIVE_SGD } from "./kernel-names.js";

/**
 * GapSgd: one torch.optim.SGD step of a parameter (sgdUpdate in ../fused-ops.ts, bit for bit): inputs param,
 * grad, buffer (the momentum buffer; absent on the first step); attrs lr, momentum, weightDecay, nesterov.
 * Outputs the new param and, with momentum > 0, the new buffer.
 */
export function sgd(args: KernelArgs): TensorInfo[] {
  const { param, grad, buffer } = args.inputs;
  const options = args.attrs as unknown as { lr: number; momentum: number; weightDecay: number; nesterov: boolean };
  const tensors = buffer == null ? [param!, grad!] : [param!, grad!, buffer];
  if (tensors.some((t) => t.dtype !== "float32" || !sameShape(t.shape, param!.shape))) {
    throw new Error(`${NATIVE_SGD}: param, grad and buffer must be float32 tensors of one shape`);
  }
  const call = new NativeCall(args.backend as BackendWasm, NATIVE_SGD);
  const out = { param: call.output(param!.shape), buffer: options.momentum > 0 ? call.output(param!.shape) : null };
  call.sgd({ param: param!, grad: grad!, buffer }, out, util.sizeFromShape(param!.shape), options);
  return out.buffer == null ? [out.param] : [out.param, out.buffer];
}
