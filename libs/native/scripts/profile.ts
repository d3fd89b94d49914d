// Per-kernel time breakdown of a ResNet20 training step, an evaluation pass and
// PGD-10 on the active backend (GAP_BACKEND, default auto).
//   cd libs/native && npx tsx scripts/profile.ts [--arch resnet20] [--batch 128]
// Every registered kernel of the backend is wrapped with a timer; composed
// kernels that call other kernels are charged their self time only. wasm
// kernels are synchronous, so wall time around kernelFunc is the kernel's cost.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { createModel, evaluate, initBackend, makeSyntheticDataset, train, isArchitecture, type Dataset } from "@gap/ml-core";
import { generateAdversarialSet } from "@gap/algorithms";

const { values: args } = parseArgs({
  options: { arch: { type: "string", default: "resnet20" }, batch: { type: "string", default: "128" } },
});
const architecture = args.arch!;
if (!isArchitecture(architecture)) throw new Error(`unknown architecture ${architecture}`);
const batch = Number(args.batch);
const backend = await initBackend();

interface Stat {
  calls: number;
  self: number;
  shapes: Map<string, { calls: number; self: number }>;
}
let stats = new Map<string, Stat>();
const stack: number[] = []; // child time accumulated per open frame

for (const config of tf.getKernelsForBackend(backend.name)) {
  const inner = config.kernelFunc;
  const name = config.kernelName;
  tf.unregisterKernel(name, backend.name);
  tf.registerKernel({
    ...config,
    kernelFunc: (a) => {
      stack.push(0);
      const t0 = performance.now();
      try {
        return inner(a);
      } finally {
        const total = performance.now() - t0;
        const child = stack.pop()!;
        if (stack.length > 0) stack[stack.length - 1]! += total;
        const s = stats.get(name) ?? { calls: 0, self: 0, shapes: new Map() };
        s.calls++;
        s.self += total - child;
        const key = Object.values(a.inputs)
          .map((t) => `[${t!.shape}]`)
          .join(" ") + (a.attrs && "strides" in a.attrs ? ` s${JSON.stringify(a.attrs["strides"])}` : "");
        const sh = s.shapes.get(key) ?? { calls: 0, self: 0 };
        sh.calls++;
        sh.self += total - child;
        s.shapes.set(key, sh);
        stats.set(name, s);
      }
    },
  });
}

const config = { architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const data = (count: number, seed: number): Dataset =>
  makeSyntheticDataset({ count, height: 32, width: 32, channels: 3, numClasses: 10, seed });
const model = createModel(config, 0);

async function phase(label: string, images: number, run: () => Promise<unknown>) {
  // Two warm-up runs: the first creates oneDNN primitives and grows the wasm
  // heap; the second still page-faults in memory the first freed and reshaped.
  await run();
  await run();
  stats = new Map();
  const t0 = performance.now();
  await run();
  const wall = performance.now() - t0;
  const rows = [...stats.entries()].sort((a, b) => b[1].self - a[1].self);
  const kernelTotal = rows.reduce((s, [, v]) => s + v.self, 0);
  console.log(
    `\n== ${label}: ${wall.toFixed(0)} ms wall, ${(images / (wall / 1000)).toFixed(1)} img/s, kernels ${kernelTotal.toFixed(0)} ms (${((100 * kernelTotal) / wall).toFixed(0)}%)`,
  );
  for (const [name, s] of rows.slice(0, 14)) {
    console.log(`${name.padEnd(28)} ${s.self.toFixed(1).padStart(8)} ms ${((100 * s.self) / wall).toFixed(1).padStart(5)}%  ${s.calls} calls`);
    if (process.env["PROFILE_SHAPES"]) {
      for (const [k, v] of [...s.shapes.entries()].sort((a, b) => b[1].self - a[1].self).slice(0, 4)) {
        console.log(`    ${k.padEnd(60)} ${v.self.toFixed(1).padStart(8)} ms ${v.calls}`);
      }
    }
  }
}

await phase("train step", batch, () =>
  train(model, data(batch, 1), {
    epochs: 1,
    batchSize: batch,
    schedule: { kind: "constant", initialLr: 0.01 },
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    augmentation: false,
    seed: 0,
  }),
);
const evalSet = data(batch * 4, 2);
await phase("evaluation", evalSet.count, () => evaluate(model, evalSet, { batchSize: batch }));
const attackSet = data(batch, 3);
await phase("PGD-10", batch, () =>
  generateAdversarialSet(model, attackSet, {
    method: "pgd",
    eps: 8 / 255,
    stepSize: 2 / 255,
    steps: 10,
    randomStart: true,
    labelMode: "true",
    inputSpace: "pixel",
    seed: 0,
    batchSize: batch,
  }),
);
