/**
 * Cross-checks against PyTorch 1.13 + torchvision, run through tools/pytorch/*.py.
 * Skipped when no Python with torch and torchvision is found (GAP_PYTHON names one
 * explicitly; GAP_SKIP_TORCH=1 skips on purpose).
 */
import "@tensorflow/tfjs-backend-cpu";
// Gradients (with the runtime's fixes to tfjs's own) are registered by the runtime.
import "../src/runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, loadStateDict, type SafeTensor, stateDict } from "../src/io/index.js";
import { createModel } from "../src/models/index.js";
import type { ArchitectureName, InputShape, Model } from "../src/nn/model.js";

const TOOLS = fileURLToPath(new URL("../../../tools/pytorch/", import.meta.url));

function findTorchPython(): string | null {
  if (process.env.GAP_SKIP_TORCH === "1") return null;
  const candidates = process.env.GAP_PYTHON ? [process.env.GAP_PYTHON] : ["python3", "/usr/bin/python3"];
  for (const python of candidates) {
    const probe = spawnSync(python, ["-c", "import torch, torchvision"], { encoding: "utf8" });
    if (probe.status === 0) return python;
  }
  return null;
}

const python = findTorchPython();

function run(args: string[]): string {
  // No __pycache__ in the source tree.
  const result = spawnSync(python as string, args, { cwd: TOOLS, encoding: "utf8", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
  if (result.status !== 0) throw new Error(`${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

const SHAPES: Record<string, InputShape> = {
  "32x32x3": { height: 32, width: 32, channels: 3 },
  "28x28x1": { height: 28, width: 28, channels: 1 },
};
const CASES: Array<[ArchitectureName, string]> = [
  ["resnet20", "32x32x3"],
  ["vgg_bn_drop", "32x32x3"],
  ["googlenet", "32x32x3"],
  ["mobilenet_v2", "32x32x3"],
  ["resnet110", "32x32x3"],
  ["resnet20", "28x28x1"],
  ["vgg_bn_drop", "28x28x1"],
  ["googlenet", "28x28x1"],
  ["mobilenet_v2", "28x28x1"],
];

const tensorOf = (t: SafeTensor) => tf.tensor(t.data as Float32Array, t.shape, "float32");
const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number);
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => maxAbs(tf.sub(a, b)));

describe.skipIf(python === null)("PyTorch cross-check", () => {
  let dir = "";
  const report: string[] = [];

  beforeAll(async () => {
    await tf.setBackend("cpu");
    dir = mkdtempSync(join(tmpdir(), "gap-pytorch-"));
    run(["export_reference.py", dir, "--arch", "resnet20,vgg_bn_drop,googlenet,mobilenet_v2,resnet110", "--batch", "2", "--seed", "1"]);
    run(["export_reference.py", dir, "--arch", "resnet20,vgg_bn_drop,googlenet,mobilenet_v2", "--shape", "28x28x1", "--batch", "2", "--seed", "2"]);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`max |logit error| vs PyTorch:\n  ${report.join("\n  ")}`);
  });

  it.each(CASES)("%s on %s inputs gives PyTorch's logits", (arch, shape) => {
    const file = decodeSafetensors(readFileSync(join(dir, `${arch}${shape === "32x32x3" ? "" : `_${shape}`}.safetensors`))).tensors;
    const model = createModel({ architecture: arch, numClasses: 10, inputShape: SHAPES[shape]! }, 0);
    loadStateDict(model, Object.fromEntries(Object.entries(file).filter(([name]) => !name.startsWith("__"))));
    const x = tf.tidy(() => tf.transpose(tensorOf(file.__input__!), [0, 2, 3, 1])) as tf.Tensor4D;
    const expected = tensorOf(file.__logits__!);
    const logits = model.forward(x, { training: false });
    const exact = tf.tensor(Float32Array.from(file.__logits_f64__!.data as Float64Array), file.__logits_f64__!.shape);
    const error = maxAbsDiff(logits, expected);
    // Float32 rounding alone: how far PyTorch's float32 logits are from its float64 ones.
    // Random BatchNorm statistics with near-zero variances amplify it in the deeper nets.
    const rounding = maxAbsDiff(expected, exact);
    const ourRounding = maxAbsDiff(logits, exact);
    const header = `${arch} ${shape}: eval ${error.toExponential(2)} (max |logit| ${maxAbs(expected).toFixed(2)}; vs float64: ours ${ourRounding.toExponential(2)}, PyTorch float32 ${rounding.toExponential(2)})`;
    expect(maxAbs(expected)).toBeGreaterThan(0.5);
    // 1e-4 absolute, unless PyTorch's own float32 result is that far from the exact one;
    // then ours must be as close to the float64 logits as PyTorch's, within a factor 4.
    expect(ourRounding).toBeLessThanOrEqual(Math.max(1e-4, 4 * rounding));
    expect(error).toBeLessThanOrEqual(Math.max(1e-4, 5 * rounding));

    // Eval-mode gradient with respect to the pixels (what PGD uses), against PyTorch's.
    // The gradient is piecewise constant: a pre-activation within rounding distance of a
    // ReLU or max-pool kink flips a whole path (PyTorch's own gradient moves by 1-5% in L2
    // under input noise of 1e-6), so the bound is on the relative L2 error, not elementwise.
    const gradError = tf.tidy(() => {
      const weights = tensorOf(file.__grad_weights__!);
      const grad = tf.grad((input) => tf.sum(tf.mul(model.forward(input as tf.Tensor4D, { training: false }), weights)))(x);
      const want = tensorOf(file.__input_grad__!);
      return (tf.norm(tf.sub(tf.transpose(grad, [0, 3, 1, 2]), want)).dataSync()[0] as number) / (tf.norm(want).dataSync()[0] as number);
    });
    expect(gradError).toBeLessThanOrEqual(5e-2);
    let line = `${header}, input gradient (relative L2) ${gradError.toExponential(2)}`;
    exact.dispose();
    if (file.__train_logits__) {
      const expectedTrain = tensorOf(file.__train_logits__);
      const trainLogits = model.forward(x, { training: true });
      const trainError = maxAbsDiff(trainLogits, expectedTrain);
      model.commitBatchStats();
      let statsError = 0;
      for (const b of model.buffers) {
        const want = tensorOf(file[`__updated__.${b.name}`]!);
        statsError = Math.max(statsError, maxAbsDiff(b.variable, want));
        want.dispose();
      }
      line += `, train ${trainError.toExponential(2)}, running stats ${statsError.toExponential(2)}`;
      expect(trainError).toBeLessThanOrEqual(1e-4);
      expect(statsError).toBeLessThanOrEqual(1e-4);
      tf.dispose([expectedTrain, trainLogits]);
    }
    report.push(line);
    tf.dispose([x, expected, logits]);
    model.dispose();
  });

  /** Random BatchNorm running statistics, so eval-mode outputs depend on them. */
  function randomizeBuffers(model: Model): void {
    tf.tidy(() =>
      model.buffers.forEach((b, i) => {
        const r = tf.randomUniform(b.variable.shape, 0.5, 1.5, "float32", 100 + i);
        b.variable.assign(b.name.endsWith("running_var") ? r : tf.sub(r, 1));
      }),
    );
  }

  it.each<[ArchitectureName, string]>([
    ["resnet20", "32x32x3"],
    ["resnet20", "28x28x1"],
    ["vgg_bn_drop", "32x32x3"],
    ["googlenet", "32x32x3"],
    ["mobilenet_v2", "32x32x3"],
  ])("our %s (%s) loads into PyTorch with strict load_state_dict and gives our logits", (arch, shape) => {
    const model = createModel({ architecture: arch, numClasses: 10, inputShape: SHAPES[shape]! }, 5);
    randomizeBuffers(model);
    const { height, width, channels } = SHAPES[shape]!;
    const x = tf.randomUniform([2, height, width, channels], 0, 1, "float32", 6) as tf.Tensor4D;
    const logits = model.forward(x, { training: false });
    const nchw = tf.transpose(x, [0, 3, 1, 2]);
    const path = join(dir, `ours-${arch}-${shape}.safetensors`);
    writeFileSync(
      path,
      encodeSafetensors({
        ...stateDict(model),
        __input__: { dtype: "F32", shape: nchw.shape, data: nchw.dataSync() as Float32Array },
        __logits__: { dtype: "F32", shape: logits.shape, data: logits.dataSync() as Float32Array },
      }),
    );
    const result = JSON.parse(run(["check_import.py", path, "--arch", arch])) as { max_abs_error: number; max_abs_logit: number };
    // Our initial weights and random running statistics give logits of any scale (tiny for
    // MobileNetV2, huge for the ResNets), so the bound is relative to the largest logit.
    const relative = result.max_abs_error / result.max_abs_logit;
    report.push(`ours -> PyTorch ${arch} ${shape}: ${result.max_abs_error.toExponential(2)} (relative ${relative.toExponential(2)}, max |logit| ${result.max_abs_logit.toExponential(2)})`);
    expect(result.max_abs_logit).toBeGreaterThan(0);
    expect(relative).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, logits, nchw]);
    model.dispose();
  });
});
