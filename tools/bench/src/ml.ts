// nx run bench:ml -- [--arch resnet20] [--batch 128] [--repeats 3] [--gap-inputs 1000]
//                    [--eval-batches 4] [--pgd-warmup-steps 1] [--warmups 1] [--out FILE] [--turns]
// Times a training step, an evaluation pass, PGD-10 and GAP scoring on the chosen
// backend (GAP_BACKEND) and writes img/s to bench-results/ml-<arch>-<backend>.json
// (or --out). tools/pytorch/bench_reference.py does the same work in PyTorch;
// src/compare.ts runs both and writes the ratios.
//
// train/eval: --warmups warm-up calls, then best of --repeats. PGD-10: --warmups
// warm-up PGD-<pgd-warmup-steps> calls on the same batch (the same kernels on the
// same shapes, much cheaper than a PGD-10 warm-up on the big architectures), then
// best of --repeats. GAP scoring: one timed prune() over --gap-inputs adversarial
// inputs (made untimed by 1-step PGD). Live tensor counts are recorded before and
// after every workload: equal counts mean the workload leaked no tensors.
//
// --turns (bench:compare runs us beside the PyTorch reference this way): before each unit
// of work (the reference convolution, each workload's warm-up calls, each timed repeat,
// making GAP's set, GAP scoring) the process writes "wait <unit>" to file descriptor 3 and
// waits for a line on stdin, so that the two sides' units can alternate one at a time.
import { mkdirSync, readSync, writeFileSync, writeSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { countParameters, createModel, evaluate, forwardMultiplyAdds, initBackend, makeSyntheticDataset, train, isArchitecture, type Dataset } from "@gap/ml-core";
import { generateAdversarialSet, prune } from "@gap/algorithms";

const { values: args } = parseArgs({
  options: {
    arch: { type: "string", default: "resnet20" },
    batch: { type: "string", default: "128" },
    repeats: { type: "string", default: "3" },
    "gap-inputs": { type: "string", default: "1000" },
    "eval-batches": { type: "string", default: "4" },
    "pgd-warmup-steps": { type: "string", default: "1" },
    warmups: { type: "string", default: "1" },
    out: { type: "string" },
    turns: { type: "boolean", default: false },
  },
});
const architecture = args.arch!;
if (!isArchitecture(architecture)) throw new Error(`unknown architecture ${architecture}`);
const positive = (name: keyof typeof args) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${args[name]}`);
  return v;
};
const batch = positive("batch");
const repeats = positive("repeats");
const gapInputs = positive("gap-inputs");
const evalBatches = positive("eval-batches");
const pgdWarmupSteps = positive("pgd-warmup-steps");
const warmups = positive("warmups");

/** With --turns: announces the next unit of work on fd 3 and blocks until stdin says go. */
function turn(unit: string): void {
  if (!args.turns) return;
  writeSync(3, `wait ${unit}\n`);
  const byte = Buffer.alloc(1);
  for (;;) {
    let read: number;
    try {
      read = readSync(0, byte, 0, 1, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      continue;
    }
    if (read === 0) throw new Error("--turns: stdin closed while waiting for a turn");
    if (byte[0] === 0x0a) return;
  }
}

const loadAverageStart = loadavg();
const backend = await initBackend();
const config = { architecture, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const data = (count: number, seed: number): Dataset => makeSyntheticDataset({ count, height: 32, width: 32, channels: 3, numClasses: 10, seed });
const model = createModel(config, 0);

interface TensorCounts {
  before: number;
  after: number;
}
/** Runs a workload and records the live tensor count around it. */
async function counted<T>(work: () => Promise<T>): Promise<T & { tensors: TensorCounts }> {
  const before = tf.memory().numTensors;
  const result = await work();
  return { ...result, tensors: { before, after: tf.memory().numTensors } };
}

/** Best of `repeats` timed runs after `warmups` warm-up calls, as images per second. */
async function throughput(workload: string, images: number, run: () => Promise<unknown>, warmup: () => Promise<unknown> = run) {
  turn(`${workload} warm-up`);
  for (let i = 0; i < warmups; i++) await warmup();
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    turn(`${workload} ${i + 1}`);
    const start = performance.now();
    await run();
    seconds.push((performance.now() - start) / 1000);
  }
  return { imagesPerSecond: images / Math.min(...seconds), seconds };
}

/**
 * What the workloads' GFLOP/s are read against: the rate of one 3x3 convolution
 * of 64 channels into 64 over 8x8 pixels at batch 128 (ResNet20's last stage, its
 * fastest shape), best of 10 after a warm-up, in this process. Measured first, so
 * that its tensors come from a heap that the workloads then reuse. Kernels here
 * compute synchronously, so the call is the work.
 */
function referenceGflops(): number {
  const [x, w] = [tf.randomUniform([128, 8, 8, 64], 0, 1, "float32", 1), tf.randomUniform([3, 3, 64, 64], 0, 1, "float32", 2)];
  let best = Infinity;
  for (let i = 0; i < 11; i++) {
    const start = performance.now();
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same");
    if (i > 0) best = Math.min(best, (performance.now() - start) / 1000);
    y.dispose();
  }
  tf.dispose([x, w]);
  return (2 * 128 * 8 * 8 * 64 * 64 * 9) / best / 1e9;
}
turn("reference");
const reference = referenceGflops();

const trainBatch = data(batch, 1);
const trainStep = await counted(() =>
  throughput("training", batch, () =>
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
  ),
);
const evalSet = data(batch * evalBatches, 2);
const evaluation = await counted(() => throughput("evaluation", evalSet.count, () => evaluate(model, evalSet, { batchSize: batch })));
const attackSet = data(batch, 3);
const pgdParams = { method: "pgd" as const, eps: 8 / 255, stepSize: 2 / 255, steps: 10, randomStart: true, labelMode: "true" as const, inputSpace: "pixel" as const, seed: 0, batchSize: batch };
const pgd = await counted(() =>
  throughput(
    "PGD-10",
    batch,
    () => generateAdversarialSet(model, attackSet, pgdParams),
    () => generateAdversarialSet(model, attackSet, { ...pgdParams, steps: pgdWarmupSteps }),
  ),
);
turn("GAP set");
const gapSetStart = performance.now();
const gapSet = await generateAdversarialSet(model, data(gapInputs, 4), { ...pgdParams, steps: 1 });
const gapSetSeconds = (performance.now() - gapSetStart) / 1000;
const gapScoring = await counted(async () => {
  turn("GAP scoring");
  const start = performance.now();
  const { report } = await prune(model, { strategy: "gap", scope: "global", compression: 4, variant: "paper", data: gapSet, batchSize: batch, seed: 0 });
  return { inputs: gapInputs, seconds: (performance.now() - start) / 1000, kept: report.layers.reduce((sum, layer) => sum + layer.kept, 0) };
});

const result = {
  date: new Date().toISOString(),
  architecture,
  batch,
  repeats,
  evalImages: evalSet.count,
  pgdWarmupSteps,
  warmups,
  parameters: countParameters(model),
  /** Multiply-adds of one image's forward pass (convolutions and matrix products). */
  forwardMultiplyAdds: await forwardMultiplyAdds(model),
  backend,
  trainStep,
  evaluation,
  pgd10: pgd,
  gapScoring,
  referenceGflops: reference,
  /** Untimed: making the adversarial set GAP scores (1-step PGD). */
  gapSetSeconds,
  /** process.resourceUsage().maxRSS is in KiB. */
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  /** User + system CPU time of this process (more than wall time means several threads). */
  cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
  tensorLeak: [trainStep, evaluation, pgd, gapScoring].reduce((sum, w) => sum + w.tensors.after - w.tensors.before, 0),
  loadAverage: { start: loadAverageStart, end: loadavg() },
};
const file = args.out ? resolve(args.out) : join(resolve(import.meta.dirname, "../../../bench-results"), `ml-${architecture}-${backend.name}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
console.log(
  `${architecture} batch ${batch} on ${backend.name}: train ${trainStep.imagesPerSecond.toFixed(1)} img/s, eval ${evaluation.imagesPerSecond.toFixed(1)} img/s, ` +
    `PGD-10 ${pgd.imagesPerSecond.toFixed(1)} img/s, GAP scoring of ${gapInputs} inputs ${gapScoring.seconds.toFixed(1)} s, ` +
    `tensors leaked ${result.tensorLeak}, peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB -> ${file}`,
);
