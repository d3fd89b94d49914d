/** Max pooling and its gradient (NHWC float32) as threaded passes of the addon. */
import { util, type KernelFunc, type MaxPoolAttrs } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { sameShape } from "../padding.js";
import { NativeCall, nativeKernelsActive, type KernelArgs } from "./addon.js";
import { poolGeometry } from "./geometry.js";

/** MaxPool as one threaded pass; the wasm kernel measured 0.5 ms per GoogLeNet pool. */
export function nativeMaxPool(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs;
    if (!nativeKernelsActive() || x!.shape.length !== 4 || x!.dtype !== "float32" || util.sizeFromShape(x!.shape) === 0) return original(args);
    const { outShape, params } = poolGeometry(x!.shape, args.attrs as unknown as MaxPoolAttrs);
    if (outShape[1]! < 1 || outShape[2]! < 1) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "MaxPool");
    const y = call.output(outShape);
    call.maxPool(x!, y, params);
    return y;
  };
}

/** MaxPoolGrad: each window's dy to its first maximum, one threaded pass instead of wasm/scatter.ts's composed argmax. */
export function nativeMaxPoolGrad(original: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { dy, input } = args.inputs;
    if (!nativeKernelsActive() || input!.shape.length !== 4 || input!.dtype !== "float32" || dy!.dtype !== "float32") return original(args);
    const { outShape, params } = poolGeometry(input!.shape, args.attrs as unknown as MaxPoolAttrs);
    if (!sameShape(dy!.shape, outShape) || util.sizeFromShape(input!.shape) === 0) return original(args);
    const call = new NativeCall(args.backend as BackendWasm, "MaxPoolGrad");
    const dx = call.output(input!.shape);
    call.maxPoolGrad(dy!, input!, dx, params);
    return dx;
  };
}
