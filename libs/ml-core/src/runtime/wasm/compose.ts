/** Kernels composed from the wasm backend's own: the temporaries' bookkeeping and shape checks. */
import { getKernel, type KernelFunc, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { pair, type Pair } from "../padding.js";

export type KernelArgs = Parameters<KernelFunc>[0];

/**
 * Runs other wasm kernels and frees every intermediate result when done,
 * so a composed kernel leaves exactly one new data id behind (its output).
 */
export class WasmOps {
  private readonly temps: TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(kernelName, "wasm");
    if (kernel == null) throw new Error(`wasm kernel '${kernelName}' is not registered`);
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run("Transpose", { x }, { perm });
  }
  pad(x: TensorInfo, paddings: Pair[], constantValue = 0): TensorInfo {
    return this.run("PadV2", { x }, { paddings, constantValue });
  }
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run("Slice", { x }, { begin, size });
  }
  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run("Sum", { x }, { axis, keepDims: false });
  }

  /** Tracks a tensor made outside `run` so it is freed with the temporaries. */
  adopt(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }

  /** Detaches `result` from the temporaries and frees the rest. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.temps) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    return result;
  }

  /** Frees all temporaries (on error paths). */
  disposeAll(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
  }
}

export function compose(backend: BackendWasm, body: (ops: WasmOps) => TensorInfo): TensorInfo {
  const ops = new WasmOps(backend);
  try {
    return ops.finish(body(ops));
  } catch (e) {
    ops.disposeAll();
    throw e;
  }
}

export function assertShape(kernel: string, what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(`wasm ${kernel}: ${what} has shape [${actual}], expected [${expected}] for these attributes`);
  }
}

export function assertNoDilation(kernel: string, dilations: number | Pair | undefined): void {
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`wasm ${kernel} supports only dilation 1, got [${dh}, ${dw}]`);
  }
}
