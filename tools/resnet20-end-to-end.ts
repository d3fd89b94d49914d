// The algorithms end to end without gRPC, on real data: train ResNet20 on the CIFAR-10
// training batch, attack it with PGD, prune it with every strategy at one ratio,
// fine-tune briefly, and print clean / adversarial / transfer accuracy with exact counts.
// Usage: npx tsx tools/resnet20-end-to-end.ts [--epochs 3] [--ratio 4] [--out file.json]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  createModel,
  evaluate,
  initBackend,
  loadCifar10,
  loadWeights,
  saveWeights,
  stratifiedSubset,
  train,
  type Dataset,
  type TrainOptions,
} from "@gap/ml-core";
import { adversarialSetCounts, generateAdversarialSet, prune, transferAccuracy, type AttackParameters, type Scope, type StrategyName } from "@gap/algorithms";

const { values: args } = parseArgs({
  options: {
    epochs: { type: "string", default: "3" },
    ratio: { type: "string", default: "4" },
    "train-size": { type: "string", default: "10000" },
    "finetune-size": { type: "string", default: "2000" },
    "test-size": { type: "string", default: "2000" },
    "attack-size": { type: "string", default: "500" },
    out: { type: "string" },
  },
});
const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}`);
const backend = await initBackend();
log(`backend ${backend.name}`);

const config = { architecture: "resnet20" as const, numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } };
const trainAll = await loadCifar10(undefined, "train");
const trainSize = Number(args["train-size"]);
const trainSet = trainSize >= trainAll.count ? trainAll : stratifiedSubset(trainAll, trainSize, 0);
const testSet = stratifiedSubset(await loadCifar10(undefined, "test"), Number(args["test-size"]), 1);
const attackSource = stratifiedSubset(trainAll, Number(args["attack-size"]), 2);
const fineTuneSet = stratifiedSubset(trainAll, Number(args["finetune-size"]), 3);
const base: Omit<TrainOptions, "epochs" | "schedule"> = {
  batchSize: 128,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 1e-4,
  augmentation: { randomCrop: true, padding: 4, horizontalFlip: true },
  seed: 0,
};
const pgd: AttackParameters = { method: "pgd", eps: 8 / 255, stepSize: 2 / 255, steps: 10, randomStart: true, labelMode: "true", inputSpace: "pixel", seed: 0, batchSize: 128 };

const model = createModel(config, 0);
log(`training on ${trainSet.count} images, ${args.epochs} epochs (paper schedule, lr 0.1)`);
await train(model, trainSet, {
  ...base,
  epochs: Number(args.epochs),
  schedule: { kind: "paper_step", initialLr: 0.1 },
  onProgress: (p) => p.step % 20 === 0 && log(`epoch ${p.epoch + 1} step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(3)} acc ${p.accuracy.toFixed(3)}`),
});
const weights = saveWeights(model);
const clean = await evaluate(model, testSet, { batchSize: 256 });
log(`unpruned: clean test accuracy ${clean.correct}/${clean.total} = ${(clean.accuracy * 100).toFixed(2)}%`);
const transferSet = await generateAdversarialSet(model, attackSource, pgd);
const baseAttack = adversarialSetCounts(transferSet);
log(`unpruned: PGD-10 accuracy ${baseAttack.adversarialCorrect}/${baseAttack.count} (clean on the same inputs ${baseAttack.cleanCorrect})`);

const rows: Record<string, unknown>[] = [
  { strategy: "unpruned", clean: clean.correct, cleanTotal: clean.total, adversarial: baseAttack.adversarialCorrect, transfer: baseAttack.adversarialCorrect, attackTotal: baseAttack.count },
];
const strategies: Array<[StrategyName, Scope]> = [
  ["random", "global"], ["magnitude", "global"], ["magnitude", "layer"], ["gradient", "global"], ["gradient", "layer"], ["gap", "global"], ["gap", "layer"],
];
for (const [strategy, scope] of strategies) {
  const pruned = createModel(config, "zeros");
  loadWeights(pruned, weights);
  const data: Dataset | undefined = strategy === "gap" ? transferSet : strategy === "gradient" ? attackSource : undefined;
  const { masks, report } = await prune(pruned, { strategy, scope, compression: Number(args.ratio), variant: "paper", data, batchSize: 128, seed: 0 });
  await train(pruned, fineTuneSet, { ...base, epochs: 1, schedule: { kind: "constant", initialLr: 0.01 }, masks });
  const prunedClean = await evaluate(pruned, testSet, { batchSize: 256, masks });
  const own = adversarialSetCounts(await generateAdversarialSet(pruned, attackSource, pgd, { masks }));
  const transfer = transferAccuracy(transferSet, (await evaluate(pruned, transferSet, { batchSize: 256, masks })).predictions);
  rows.push({
    strategy: `${strategy} (${scope})`,
    realizedCompression: Number(report.realizedCompression.toFixed(4)),
    clean: prunedClean.correct,
    cleanTotal: prunedClean.total,
    adversarial: own.adversarialCorrect,
    transfer: transfer.correct,
    bothCorrect: transfer.bothCorrect,
    attackTotal: own.count,
  });
  log(`${strategy} (${scope}): p=${report.realizedCompression.toFixed(3)} clean ${prunedClean.correct}/${prunedClean.total} adversarial ${own.adversarialCorrect}/${own.count} transfer ${transfer.correct}/${transfer.total} (both correct ${transfer.bothCorrect})`);
  pruned.dispose();
}
const pct = (n: unknown, d: unknown) => `${((Number(n) / Number(d)) * 100).toFixed(1)}%`;
console.log(`\n| strategy | realized p | clean | adversarial | transfer |\n|---|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.strategy} | ${r.realizedCompression ?? 1} | ${pct(r.clean, r.cleanTotal)} (${r.clean}/${r.cleanTotal}) | ${pct(r.adversarial, r.attackTotal)} | ${pct(r.transfer, r.attackTotal)} |`);
if (args.out) writeFileSync(args.out, JSON.stringify({ backend, args, rows, seconds: (Date.now() - started) / 1000 }, null, 2));
log("done");
