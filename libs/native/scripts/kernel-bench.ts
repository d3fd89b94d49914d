// Kernel-level ratio, native (oneDNN) vs the wasm kernels, in one process on
// ResNet20's batch-128 shapes.   cd libs/native && npx tsx scripts/kernel-bench.ts
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, nativeStatus, setNativeKernelsActive } from "@gap/ml-core";

await initBackend("wasm", { log: () => {} });
const status = nativeStatus();
if (!status.enabled) {
  console.log(`native kernels off: ${status.reason}`);
  process.exit(0);
}
console.log(`oneDNN ${status.onednn} ${status.isa}, ${status.threads} threads`);

function time(f: () => tf.Tensor | tf.Tensor[], reps: number): number {
  tf.dispose(f()); // warm-up (primitive creation)
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const out = f();
    best = Math.min(best, performance.now() - t0);
    tf.dispose(out);
  }
  return best;
}

const B = 128;
const cases: Array<{ name: string; f: () => tf.Tensor | tf.Tensor[]; dispose: tf.Tensor[] }> = [];
for (const [hw, ci, co, s] of [
  [32, 16, 16, 1],
  [32, 16, 32, 2],
  [16, 32, 32, 1],
  [16, 32, 64, 2],
  [8, 64, 64, 1],
] as const) {
  const x = tf.randomNormal([B, hw, hw, ci]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, s, 1);
  const attrs = { strides: s, pad: 1, dataFormat: "NHWC" } as never;
  const tag = `${hw}x${hw}x${ci}->${co} s${s}`;
  cases.push({ name: `Conv2D ${tag}`, f: () => tf.conv2d(x, w, s, 1), dispose: [x, w, y] });
  cases.push({
    name: `Conv2DBackpropInput ${tag}`,
    f: () => tf.engine().runKernel("Conv2DBackpropInput", { dy: y, filter: w }, { ...(attrs as object), inputShape: x.shape } as never) as tf.Tensor,
    dispose: [],
  });
  cases.push({
    name: `Conv2DBackpropFilter ${tag}`,
    f: () => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy: y }, { ...(attrs as object), filterShape: w.shape } as never) as tf.Tensor,
    dispose: [],
  });
}
const xb = tf.randomNormal([B, 32, 32, 16]);
const [m, v, g, b] = [tf.zeros([16]), tf.ones([16]), tf.ones([16]), tf.zeros([16])] as tf.Tensor1D[];
cases.push({ name: "FusedBatchNorm 32x32x16", f: () => tf.batchNorm(xb, m!, v!, b!, g!, 1e-5), dispose: [xb, m!, v!, g!, b!] });
// Elementwise kernels and fused gradients (the wasm side is tfjs's composition).
const yb = tf.randomNormal([B, 32, 32, 16]);
const img = tf.randomNormal([B, 32, 32, 3]);
const rgb = tf.tensor1d([0.2, 0.3, 0.4]);
const half = tf.randomNormal([B, 16, 16, 16]);
cases.push({ name: "Relu 32x32x16", f: () => tf.relu(xb), dispose: [yb, img, rgb, half] });
cases.push({ name: "Relu gradient 32x32x16", f: () => tf.grad((t: tf.Tensor) => tf.relu(t))(xb, yb), dispose: [] });
cases.push({ name: "BatchNorm (inference) dx 32x32x16", f: () => tf.grad((t: tf.Tensor) => tf.batchNorm(t, m!, v!, b!, g!, 1e-5))(xb, yb), dispose: [] });
cases.push({ name: "Add 32x32x16 + 32x32x16", f: () => tf.add(xb, yb), dispose: [] });
cases.push({ name: "Multiply 32x32x16 * [16]", f: () => tf.mul(xb, g!), dispose: [] });
cases.push({ name: "Minimum 32x32x3 , [3]", f: () => tf.minimum(img, rgb), dispose: [] });
cases.push({ name: "PadV2 channels 16x16x16 -> 32", f: () => tf.pad(half, [[0, 0], [0, 0], [0, 0], [8, 8]]), dispose: [] });

console.log(`${"kernel (batch 128)".padEnd(44)} ${"wasm ms".padStart(9)} ${"native ms".padStart(9)} ratio`);
for (const c of cases) {
  setNativeKernelsActive(false);
  const wasm = time(c.f, 3);
  setNativeKernelsActive(true);
  const native = time(c.f, 5);
  console.log(`${c.name.padEnd(44)} ${wasm.toFixed(1).padStart(9)} ${native.toFixed(1).padStart(9)} ${(wasm / native).toFixed(1)}x`);
}
tf.dispose(cases.flatMap((c) => c.dispose));
