// nx run bench:ml -- [--arch resnet20] [--batch 128] [--repeats 3]
// Times a training step, an evaluation pass, PGD-10 and GAP scoring on the chosen
// backend (GAP_BACKEND) and writes img/s to bench-results/ml-<arch>-<backend>.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { createModel, evaluate, initBackend, makeSyntheticDataset, train, isArchitecture, type Dataset } from "@gap/ml-core";
import { generateAdversarialSet, prune } from "@gap/algorithms";

const { values: args } = parseArgs({
  options: {
    arch: { type: "string", default: "resnet20" },
    batch: { type: "string", default: "128" },
    repeats: { type: "string", default: "3" },
    "gap-inputs": { type: "string", default: "1000" },
  },
});
const architecture = args.arch!;
if (!isArchitecture(architecture)) throw new Error(`unknown architecture ${architecture}`);
const batch = Number(args.batch);
const repeats = Number(args.repeats);
const backend = await initBackend();
const config = { architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const data = (count: number, seed: number): Dataset => makeSyntheticDataset({ count, height: 32, width: 32, channels: 3, numClasses: 10, seed });
const model = createModel(config, 0);

/** Best of `repeats` timed runs after one warm-up, as images per second. */
async function throughput(images: number, run: () => Promise<unknown>) {
  await run();
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    seconds.push((performance.now() - start) / 1000);
  }
  return { imagesPerSecond: images / Math.min(...seconds), seconds };
}

const numTensorsBefore = tf.memory().numTensors;
const trainBatch = data(batch, 1);
const trainStep = await throughput(batch, () =>
  train(model, trainBatch, {
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
const evaluation = await throughput(evalSet.count, () => evaluate(model, evalSet, { batchSize: batch }));
const attackSet = data(batch, 3);
const pgdParams = { method: "pgd" as const, eps: 8 / 255, stepSize: 2 / 255, steps: 10, randomStart: true, labelMode: "true" as const, inputSpace: "pixel" as const, seed: 0, batchSize: batch };
const pgd = await throughput(batch, () => generateAdversarialSet(model, attackSet, pgdParams));
const gapInputs = Number(args["gap-inputs"]);
const gapSet = await generateAdversarialSet(model, data(gapInputs, 4), { ...pgdParams, steps: 1 });
const gapStart = performance.now();
await prune(model, { strategy: "gap", scope: "global", compression: 4, variant: "paper", data: gapSet, batchSize: batch, seed: 0 });
const gapScoringSeconds = (performance.now() - gapStart) / 1000;

const result = {
  date: new Date().toISOString(),
  architecture,
  batch,
  backend,
  trainStep,
  evaluation,
  pgd10: pgd,
  gapScoring: { inputs: gapInputs, seconds: gapScoringSeconds },
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  tensorLeak: tf.memory().numTensors - numTensorsBefore,
};
const outDir = resolve(import.meta.dirname, "../../../bench-results");
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `ml-${architecture}-${backend.name}.json`);
writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
console.log(
  `${architecture} batch ${batch} on ${backend.name}: train ${trainStep.imagesPerSecond.toFixed(1)} img/s, eval ${evaluation.imagesPerSecond.toFixed(1)} img/s, ` +
    `PGD-10 ${pgd.imagesPerSecond.toFixed(1)} img/s, GAP scoring of ${gapInputs} inputs ${gapScoringSeconds.toFixed(1)} s -> ${file}`,
);
