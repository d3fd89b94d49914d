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

console.log(`${"kernel (batch 128)".padEnd(44)} ${"wasm ms".padStart(9)} ${"native ms".padStart(9)} ratio`);
for (const c of cases) {
  setNativeKernelsActive(false);
  const wasm = time(c.f, 3);
  setNativeKernelsActive(true);
  const native = time(c.f, 5);
  console.log(`${c.name.padEnd(44)} ${wasm.toFixed(1).padStart(9)} ${native.toFixed(1).padStart(9)} ${(wasm / native).toFixed(1)}x`);
}
tf.dispose(cases.flatMap((c) => c.dispose));
