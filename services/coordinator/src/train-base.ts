// nx run coordinator:train-base [name] [--out file]: trains a committed base model
// (BASE_MODELS) through the training service, tests it on the whole test split
// through the evaluation service, and writes the weights with their provenance.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { EvaluationService, TrainingService, type EvaluationResult, type TrainResult } from "@gap/proto";
import { createArtifactStore, sha256Hex } from "@gap/artifacts";
import { createClient } from "@gap/service-kit";
import { decodeSafetensors } from "@gap/ml-core/no-tf";
import { startLocalCluster } from "./local-cluster.js";
import { BASE_MODELS, sourceCommit, withProvenance } from "./base-models.js";

const REPO_ROOT = resolve(import.meta.dirname, "../../..");
const args = process.argv.slice(2);
const outFlag = args.indexOf("--out");
const out = outFlag >= 0 ? resolve(process.env.INIT_CWD ?? process.cwd(), args[outFlag + 1] ?? "") : undefined;
const name = args.find((a, i) => !a.startsWith("--") && i !== outFlag + 1) ?? "resnet20";
const recipe = BASE_MODELS[name];
if (!recipe || (outFlag >= 0 && !args[outFlag + 1])) {
  console.error(`usage: nx run coordinator:train-base [${Object.keys(BASE_MODELS).join("|")}] [--out file]`);
  process.exit(2);
}
const file = out ?? join(REPO_ROOT, recipe.file);
const work = join(REPO_ROOT, ".gap", "train-base");
const env = { GAP_STORE_DIR: join(work, "store") };
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
const commit = sourceCommit(REPO_ROOT);
if (commit.endsWith("-dirty")) console.warn(`note: the work tree has uncommitted changes; the file records commit ${commit}`);

// One job at a time, on every core.
const cluster = await startLocalCluster({ env, logDir: join(work, "logs"), jobsAtOnce: 1 });
const training = createClient(TrainingService, cluster.addresses.training!);
const evaluation = createClient(EvaluationService, cluster.addresses.evaluation!);
try {
  console.log(`training ${name}: ${recipe.train.config!.epochs} epochs (services up in ${elapsed()})`);
  let trained: TrainResult | undefined;
  let last: Record<string, number> = {};
  const logEpoch = () => console.log(`${elapsed()} epoch ${last.epoch}: loss ${last.loss?.toFixed(4)}, accuracy ${last.accuracy?.toFixed(4)}, lr ${last.lr}`);
  for await (const message of training.train(recipe.train)) {
    if (message.event.case === "progress") {
      const { metrics } = message.event.value;
      if (last.epoch !== undefined && metrics.epoch !== last.epoch) logEpoch();
      last = metrics;
    } else if (message.event.case === "result") trained = message.event.value;
  }
  if (last.epoch !== undefined) logEpoch();
  if (!trained?.weights) throw new Error("the training service ended without a result");
  console.log(`${elapsed()} trained: last epoch loss ${trained.finalTrainLoss.toFixed(4)}, accuracy ${trained.finalTrainAccuracy.toFixed(4)} (augmented training data)`);
  let test: EvaluationResult | undefined;
  for await (const message of evaluation.evaluate({ model: recipe.train.model, weights: trained.weights, dataset: recipe.test, batchSize: 256 })) {
    if (message.event.case === "result") test = message.event.value;
  }
  if (!test) throw new Error("the evaluation service ended without a result");
  const weights = withProvenance(await createArtifactStore(env).get(trained.weights), recipe, test, commit);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, weights);
  const tensors = decodeSafetensors(weights).tensors;
  const tensorBytes = Object.values(tensors).map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  console.log(`${elapsed()} test accuracy ${test.accuracy.toFixed(4)} (${test.correct}/${test.total})`);
  console.log(`wrote ${file}: ${weights.length} bytes, sha256 ${sha256Hex(weights)} (tensors only: ${sha256Hex(Buffer.concat(tensorBytes))})`);
} catch (error) {
  console.error(`train-base failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  training.close();
  evaluation.close();
  await cluster.stop();
}
