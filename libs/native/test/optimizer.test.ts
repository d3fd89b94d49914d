// GapSgd and GapBatchNormUpdate against the tf ops they replace (native
// kernels off): equal bit for bit, over several steps. Skipped when the addon
// is not built.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { BatchNorm, Sgd, initBackend, nativeKernelCalls, nativeStatus, setNativeKernelsActive } from "@gap/ml-core";

await initBackend("wasm", { log: () => {} });
const status = nativeStatus();

function firstDifference(a: Float32Array, b: Float32Array): number {
  return a.findIndex((v, i) => !Object.is(v, b[i]));
}

/**
 * Runs `body` with the native kernels off, then on, and returns what each run gave
 * with the calls of `kernel` it made; no tensor outlives the two runs.
 */
async function offThenOn<T>(kernel: string, body: (native: boolean) => Promise<T>) {
  const before = tf.memory().numTensors;
  const run = async (native: boolean) => {
    setNativeKernelsActive(native);
    try {
      nativeKernelCalls(true);
      const values = await body(native);
      return { values, calls: nativeKernelCalls(true)[kernel] ?? 0 };
    } finally {
      setNativeKernelsActive(true);
    }
  };
  const off = await run(false);
  const on = await run(true);
  expect(tf.memory().numTensors).toBe(before);
  return { off, on };
}

describe.skipIf(!status.enabled)("native optimizer kernels vs tf ops", () => {
  it.each([
    { momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
    { momentum: 0.9, nesterov: false, weightDecay: 1e-4 },
    { momentum: 0, nesterov: false, weightDecay: 5e-4 },
    { momentum: 0.5, nesterov: true, weightDecay: 0 },
  ])("GapSgd: three steps equal Sgd's tf ops bit for bit (%o)", async (options) => {
    // [3, 3, 64, 128] has over 2^16 elements: the addon's two-thread path.
    const shapes = [[3, 3, 16, 32], [3, 3, 64, 128], [10]];
    const { off, on } = await offThenOn("GapSgd", async (native) => {
      // Each in a tidy: the initial values are freed, the variables are not.
      const params = new Map(shapes.map((s, i) => [`p${i}`, tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 1, "float32", 1 + i), true, `opt-${native}-${i}`))]));
      const sgd = new Sgd(options);
      for (let step = 0; step < 3; step++) {
        const grads = Object.fromEntries(shapes.map((s, i) => [`p${i}`, tf.randomNormal(s, 0, 1, "float32", 100 * (step + 1) + i)]));
        sgd.step(new Map([...params].map(([k, v]) => [k, v])), grads, 0.1 / (step + 1));
        tf.dispose(Object.values(grads));
      }
      const values = await Promise.all([...params.values()].map((v) => v.data() as Promise<Float32Array>));
      sgd.dispose();
      tf.dispose([...params.values()]);
      return values;
    });
    expect(off.calls).toBe(0);
    expect(on.calls).toBe(9);
    on.values.forEach((v, i) => expect(firstDifference(v, off.values[i]!), `parameter ${i}`).toBe(-1));
  });

  it("GapSgd writes the step over a parameter and its momentum buffer only when nothing else shares their data", async () => {
    const before = tf.memory().numTensors;
    const w = tf.tidy(() => tf.variable(tf.randomNormal([3, 3, 16, 32], 0, 1, "float32", 7), true, "opt-overwrite"));
    const sgd = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    const step = () => {
      const grad = tf.randomNormal(w.shape, 0, 1, "float32", 8);
      sgd.step(new Map([["w", w]]), { w: grad }, 0.1);
      grad.dispose();
    };
    step(); // the first step makes the momentum buffer
    const ownData = w.dataId;
    step();
    expect(w.dataId, "an unshared parameter is overwritten").toBe(ownData);
    // A clone shares the data: the step must leave the clone's values alone.
    const held = tf.clone(w);
    const heldValues = (held.dataSync() as Float32Array).slice();
    step();
    expect(w.dataId).not.toBe(ownData);
    expect(firstDifference(held.dataSync() as Float32Array, heldValues), "the clone kept its values").toBe(-1);
    expect(firstDifference(w.dataSync() as Float32Array, heldValues)).not.toBe(-1);
    tf.dispose([held, w]);
    sgd.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("an overwritten parameter's new values reach kernels that cached state from the old ones (wasm's MatMul)", async () => {
    const before = tf.memory().numTensors;
    const w = tf.tidy(() => tf.variable(tf.randomNormal([64, 10], 0, 1, "float32", 3), true, "opt-matmul"));
    const x = tf.randomNormal([16, 64], 0, 1, "float32", 4);
    const sgd = new Sgd({ momentum: 0, nesterov: false, weightDecay: 0 });
    const grad = tf.randomNormal(w.shape, 0, 1, "float32", 5);
    const ownData = w.dataId;
    for (let step = 0; step < 2; step++) {
      tf.tidy(() => tf.matMul(x, w).dataSync()); // packs w's values into XNNPACK's operator
      sgd.step(new Map([["w", w]]), { w: grad }, 0.5);
      const product = tf.tidy(() => tf.matMul(x, w).dataSync() as Float32Array);
      const fresh = tf.tidy(() => tf.matMul(x, tf.tensor(w.dataSync(), w.shape)).dataSync() as Float32Array);
      expect(firstDifference(product, fresh), `step ${step}`).toBe(-1);
    }
    expect(w.dataId, "the steps were written over w").toBe(ownData);
    tf.dispose([w, x, grad]);
    sgd.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("GapBatchNormUpdate: the running statistics' update equals BatchNorm.update's tf ops bit for bit", async () => {
    const c = 48;
    const { off, on } = await offThenOn("GapBatchNormUpdate", async (native) => {
      const v = (seed: number, name: string) => tf.tidy(() => tf.variable(tf.randomUniform([c], 0.1, 2, "float32", seed), false, `bnu-${native}-${name}`));
      const entry = (name: string, seed: number) => ({ name, variable: v(seed, name) });
      const bn = new BatchNorm("bn", entry("w", 1) as never, entry("b", 2) as never, entry("m", 3) as never, entry("v", 4) as never, 1e-5);
      for (let step = 0; step < 3; step++) {
        const mean = tf.randomNormal([c], 0, 1, "float32", 10 + step) as tf.Tensor1D;
        const variance = tf.randomUniform([c], 0.1, 3, "float32", 20 + step) as tf.Tensor1D;
        bn.update({ bn, mean, variance }, 0.1);
        tf.dispose([mean, variance]);
      }
      const values = [await bn.runningMean.variable.data(), await bn.runningVar.variable.data()] as Float32Array[];
      tf.dispose([bn.weight.variable, bn.bias.variable, bn.runningMean.variable, bn.runningVar.variable]);
      return values;
    });
    expect([off.calls, on.calls]).toEqual([0, 3]);
    on.values.forEach((v, i) => expect(firstDifference(v, off.values[i]!), ["running mean", "running variance"][i]).toBe(-1));
  });
});
