import * as tf from "@tensorflow/tfjs-core";
import { NATIVE_SGD, nativeApplies } from "../runtime/native/index.js";

export interface SgdOptions {
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/**
 * SGD as torch.optim.SGD (dampening 0):
 *   g = grad + weightDecay * w
 *   buf = momentum * buf + g          (buf = g on the first step)
 *   step = nesterov ? g + momentum * buf : buf
 *   w = w - lr * step
 * With native kernels on (wasm), one GapSgd kernel per parameter does the same
 * float32 operations in the same order (bit for bit equal).
 */
export class Sgd {
  private readonly buffers = new Map<string, tf.Variable>();

  constructor(private readonly options: SgdOptions) {
    if (options.nesterov && options.momentum <= 0) throw new Error("Nesterov momentum requires momentum > 0");
  }

  /** Applies one update; `params` and `grads` share keys; `grads` are disposed by the caller. */
  step(params: ReadonlyMap<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    tf.tidy(() => {
      for (const [name, grad] of Object.entries(grads)) {
        const w = params.get(name);
        if (!w) throw new Error(`Sgd: gradient for unknown parameter ${name}`);
        if (nativeApplies(w, grad)) {
          this.nativeStep(name, w, grad, lr);
          continue;
        }
        const g = weightDecay > 0 ? tf.add(grad, tf.mul(w, weightDecay)) : grad;
        let update = g;
        if (momentum > 0) {
          const buffer = this.buffers.get(name);
          if (buffer) buffer.assign(tf.add(tf.mul(buffer, momentum), g));
          else this.buffers.set(name, tf.variable(g, false, `sgd/${name}`));
          const buf = this.buffers.get(name)!;
          update = nesterov ? tf.add(g, tf.mul(buf, momentum)) : buf;
        }
        w.assign(tf.sub(w, tf.mul(update, lr)));
      }
    });
  }

  private nativeStep(name: string, w: tf.Variable, grad: tf.Tensor, lr: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    const buffer = this.buffers.get(name);
    const inputs: tf.NamedTensorMap = buffer ? { param: w, grad, buffer } : { param: w, grad };
    const [param, buf] = tf.engine().runKernel(NATIVE_SGD, inputs, { lr, momentum, weightDecay, nesterov }) as tf.Tensor[];
    w.assign(param!);
    if (buf == null) return;
    if (buffer) buffer.assign(buf);
    else this.buffers.set(name, tf.variable(buf, false, `sgd/${name}`));
  }

  /** The momentum buffers by parameter key (for checkpoints): copies of their values. */
  momentumState(): Map<string, Float32Array> {
    return new Map([...this.buffers].map(([name, buffer]) => [name, buffer.dataSync() as Float32Array]));
  }

  /** Puts back momentum buffers saved by momentumState (the same keys and shapes). */
  restoreMomentum(state: ReadonlyMap<string, Float32Array>, shapes: ReadonlyMap<string, readonly number[]>): void {
    this.dispose();
    for (const [name, values] of state) {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`Sgd: momentum for unknown parameter ${name}`);
      this.buffers.set(name, tf.variable(tf.tensor(values, [...shape], "float32"), false, `sgd/${name}`));
    }
  }

  dispose(): void {
    for (const buffer of this.buffers.values()) buffer.dispose();
    this.buffers.clear();
  }
}
