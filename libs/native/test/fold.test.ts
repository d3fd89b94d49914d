// Inference-mode batch norm folded into the conv (GapFusedConv2D) on models
// whose convs have a bias (vgg_bn_drop: conv + bias, then batch norm) or are
// depthwise with ReLU6 (mobilenet_v2): the logits and the gradients of every
// parameter, native kernels on vs off.
// Skipped when the addon is not built.
import { describe, expect, it } from "vitest";
import { maxRelErr } from "./rel-err.js";
import * as tf from "@tensorflow/tfjs-core";
import { createModel, crossEntropy, initBackend, makeSyntheticDataset, nativeKernelCalls, nativeStatus, setNativeKernelsActive } from "@gap/ml-core";

await initBackend("wasm", { log: () => {} });
const status = nativeStatus();

const relErr = (a: Float32Array, b: Float32Array) => maxRelErr(a, b, 1e-3);

describe.skipIf(!status.enabled)("batch norm folded into convs (inference)", () => {
  it.each(["vgg_bn_drop", "mobilenet_v2"] as const)("%s gives the same logits and parameter gradients with native kernels on and off", async (architecture) => {
    const model = createModel({ architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } }, 3);
    // Non-trivial running statistics and affine parameters, so every fold term matters.
    tf.tidy(() => {
      for (const [i, b] of model.buffers.entries()) {
        const v = b.variable;
        if (b.name.endsWith("running_mean")) v.assign(tf.randomNormal(v.shape, 0, 0.1, "float32", 10 + i));
        if (b.name.endsWith("running_var")) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, "float32", 10 + i));
      }
      for (const [i, p] of model.params.entries()) {
        if (/\.(bias)$/.test(p.name) || p.variable.shape.length === 1) p.variable.assign(tf.add(p.variable, tf.randomNormal(p.variable.shape, 0, 0.1, "float32", 100 + i)));
      }
    });
    const data = makeSyntheticDataset({ count: 4, height: 32, width: 32, channels: 3, numClasses: 10, seed: 9 });
    const variables = model.params.map((p) => p.variable);
    const run = async (native: boolean) => {
      setNativeKernelsActive(native);
      try {
        const out = tf.tidy(() => {
          const x = tf.tensor4d(data.images, [4, 32, 32, 3]);
          const labels = tf.tensor1d(data.labels, "int32");
          const logits = model.forward(x, { training: false });
          const { grads } = tf.variableGrads(() => crossEntropy(model.forward(x, { training: false }), labels), variables);
          return { logits, grads: variables.map((v) => grads[v.name]!) };
        });
        const result = { logits: (await out.logits.data()) as Float32Array, grads: await Promise.all(out.grads.map((g) => g.data() as Promise<Float32Array>)) };
        tf.dispose([out.logits, ...out.grads]);
        return result;
      } finally {
        setNativeKernelsActive(true);
      }
    };
    const off = await run(false);
    nativeKernelCalls(true);
    const on = await run(true);
    expect(nativeKernelCalls(true)["GapFusedConv2D"]).toBeGreaterThan(0);
    expect(relErr(on.logits, off.logits), "logits").toBeLessThan(1e-4);
    const worst = model.params.map((p, i) => [p.name, relErr(on.grads[i]!, off.grads[i]!)] as const).sort((a, b) => b[1] - a[1])[0]!;
    expect(worst[1], `gradient of ${worst[0]}`).toBeLessThan(1e-3);
    model.dispose();
  }, 120_000);
});
