import * as tf from "@tensorflow/tfjs-core";
import { sgdUpdate } from "../runtime/fused-ops.js";

export interface SgdOptions {
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** SGD as torch.optim.SGD (dampening 0; the update is sgdUpdate), with a momentum buffer per parameter. */
export class Sgd {
  private readonly buffers = new Map<string, tf.Variable>();

  constructor(private readonly options: SgdOptions) {
    if (options.nesterov && options.momentum <= 0) throw new Error("Nesterov momentum requires momentum > 0");
  }

  /** Applies one update; `params` and `grads` share keys; `grads` are disposed by the caller. */
  step(params: ReadonlyMap<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [name, grad] of Object.entries(grads)) {
        const w = params.get(name);
        if (!w) throw new Error(`Sgd: gradient for unknown parameter ${name}`);
        const buffer = this.buffers.get(name);
        const next = sgdUpdate(w, grad, buffer, { ...this.options, lr }, true);
        w.assign(next.param);
        if (!next.buffer) continue;
        if (buffer) buffer.assign(next.buffer);
        else this.buffers.set(name, tf.variable(next.buffer, false, `sgd/${name}`));
      }
    });
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
