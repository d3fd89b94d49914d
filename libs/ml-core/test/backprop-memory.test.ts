// The backward pass frees each node's saved tensors and its outputs' gradients once
// it is past the node (runtime/backprop-memory.ts), and nothing a caller still holds.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../src/runtime/index.js";

const SIZE = 1 << 16; // floats per activation: 256 KiB
const LAYERS = 12;

/**
 * A chain of LAYERS elementwise layers on a SIZE vector, whose first layer's
 * gradient (the last the backward pass runs) records the live bytes.
 */
function chain(x: tf.Tensor, seen: { bytes: number }): tf.Scalar {
  const first = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.mul(args[0] as tf.Tensor, 2),
    gradFunc: (dy: tf.Tensor) => {
      seen.bytes = tf.memory().numBytes;
      return tf.mul(dy, 2);
    },
  }));
  let h = first(x) as tf.Tensor;
  for (let i = 0; i < LAYERS; i++) h = tf.sin(h); // Sin saves its input
  return tf.sum(h);
}

describe.each(["cpu", "wasm"])("backward pass memory on %s", (backend) => {
  it("has freed the later layers' activations and gradients when it reaches the first layer", async () => {
    await initBackend(backend as "cpu" | "wasm", { log: () => {} });
    const x = tf.randomUniform([SIZE], -1, 1, "float32", 1);
    const seen = { bytes: 0 };
    const before = tf.memory().numBytes;
    const g = tf.grad((t: tf.Tensor) => chain(t, seen))(x);
    // Kept until the end: LAYERS saved inputs and LAYERS gradients (2 * 12 activations);
    // freed as it goes: a few activations beyond x and the grad's own.
    const activations = (seen.bytes - before) / (SIZE * 4);
    expect(activations).toBeGreaterThan(0);
    expect(activations).toBeLessThan(6);
    // The same gradient as the chain rule by hand: 2 * prod cos(h_i).
    const expected = tf.tidy(() => {
      let h = tf.mul(x, 2);
      let d = tf.fill([SIZE], 2);
      for (let i = 0; i < LAYERS; i++) {
        d = tf.mul(d, tf.cos(h));
        h = tf.sin(h);
      }
      return d;
    });
    const [got, want] = [await g.data(), await expected.data()];
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
    tf.dispose([x, g, expected]);
  });

  it("leaves the caller's dy, the gradients asked for and higher-order gradients intact", async () => {
    await initBackend(backend as "cpu" | "wasm", { log: () => {} });
    const x = tf.tensor1d([0.5, -1, 2]);
    const dy = tf.tensor1d([1, 2, 3]);
    const tensorsBefore = tf.memory().numTensors;
    const g = tf.grad((t: tf.Tensor) => tf.square(tf.sin(t)))(x, dy);
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(await dy.data())).toEqual([1, 2, 3]);
    const sin2 = (v: number, d: number) => d * 2 * Math.sin(v) * Math.cos(v);
    Array.from(await g.data()).forEach((v, i) => expect(v).toBeCloseTo(sin2([0.5, -1, 2][i]!, [1, 2, 3][i]!), 5));
    // d2/dx2 of x^3 = 6x: the inner pass runs while the outer one records.
    const second = tf.grad((t: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(u, 3)))(t)))(x);
    Array.from(await second.data()).forEach((v, i) => expect(v).toBeCloseTo(6 * [0.5, -1, 2][i]!, 4));
    // Variables' gradients (variableGrads) survive the pass.
    const init = tf.tensor1d([1, 2, 3]);
    const w = tf.variable(init);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.sin(w), x)) as tf.Scalar, [w]);
    expect(Array.from(await grads[w.name]!.data()).map((v) => +v.toFixed(5))).toEqual([1, 2, 3].map((v, i) => +(Math.cos(v) * [0.5, -1, 2][i]!).toFixed(5)));
    tf.dispose([g, second, value, grads[w.name]!, w, init]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose([x, dy]);
  });
});
