/** The optimizer step: torch.optim.SGD's update of one parameter as one pass. */
import { util, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { sameShape } from "../padding.js";
import { NativeCall, type KernelArgs } from "./addon.js";
import { NATIVE_SGD } from "./kernel-names.js";

/**
 * GapSgd: one torch.optim.SGD step of a parameter (sgdUpdate in ../fused-ops.ts, bit for bit): inputs param,
 * grad, buffer (the momentum buffer; absent on the first step); attrs lr, momentum, weightDecay, nesterov,
 * overwrite. Outputs the new param and, with momentum > 0, the new buffer.
 *
 * With overwrite (the caller assigns the outputs back to the param and buffer variables), the new values are
 * written over the old ones when nothing else shares their data: the weights then keep their place in the heap
 * instead of taking fresh memory every step, which split the free space (GoogLeNet's heap grew 151 -> 181 MB
 * in its second training step, faulting in fresh pages).
 */
export function sgd(args: KernelArgs): TensorInfo[] {
  const { param, grad, buffer } = args.inputs;
  const options = args.attrs as unknown as { lr: number; momentum: number; weightDecay: number; nesterov: boolean; overwrite: boolean };
  const tensors = buffer == null ? [param!, grad!] : [param!, grad!, buffer];
  if (tensors.some((t) => t.dtype !== "float32" || !sameShape(t.shape, param!.shape))) {
    throw new Error(`${NATIVE_SGD}: param, grad and buffer must be float32 tensors of one shape`);
  }
  const backend = args.backend as BackendWasm;
  const call = new NativeCall(backend, NATIVE_SGD);
  const overwritten: TensorInfo[] = [];
  // A refcount of 1: the variable being stepped is the only holder of the data.
  const overwrite = (t: TensorInfo | undefined): TensorInfo | null => {
    if (!options.overwrite || t == null || backend.refCount(t.dataId) !== 1) return null;
    backend.incRef(t.dataId);
    overwritten.push(t);
    return { dataId: t.dataId, shape: [...t.shape], dtype: t.dtype };
  };
  const out = {
    param: overwrite(param) ?? call.output(param!.shape),
    buffer: options.momentum > 0 ? (overwrite(buffer) ?? call.output(param!.shape)) : null,
  };
  call.sgd({ param: param!, grad: grad!, buffer }, out, util.sizeFromShape(param!.shape), options);
  for (const t of overwritten) forgetDerivedState(backend, t);
  return out.buffer == null ? [out.param] : [out.param, out.buffer];
}

/**
 * The wasm backend takes a tensor's data as immutable: its kernels keep state derived from it under the tensor's
 * id (XNNPACK's MatMul packs its weights once), dropped when the id is disposed. Re-registering the id drops it.
 */
function forgetDerivedState(backend: BackendWasm, t: TensorInfo): void {
  const data = backend.dataIdMap.get(t.dataId)!;
  const tfjs = (backend.wasm as unknown as { tfjs: { disposeData(id: number): void; registerTensor(id: number, size: number, offset: number): void } }).tfjs;
  tfjs.disposeData(data.id);
  tfjs.registerTensor(data.id, util.sizeFromShape(t.shape), data.memoryOffset);
}
