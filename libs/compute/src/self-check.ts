/**
 * The backend self-check a compute service runs before it serves: a small fixed
 * workload computed on the backend this process chose and on the plain cpu
 * backend (tfjs's reference JavaScript kernels, the backend every other path
 * was tested against), compared within stated tolerances. The same layer
 * functions run on both: on wasm with the native oneDNN kernels they dispatch
 * to those kernels (conv, batch norm, pooling, GapFusedConv2D, GapSgd, ...), on
 * cpu to the composed tf ops they replace, so each custom kernel meets its reference.
 *
 * Errors are max |got - want| / max(1, max |want|) over each output ("max"), the
 * relative L2 norm of the difference ("l2": gradients through a whole network,
 * where float32 rounding legitimately moves a few elements more), or the share
 * of elements that differ ("share": a PGD step's sign(gradient), which flips
 * where the gradient is within rounding of 0).
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  addRelu,
  BatchNorm,
  Conv2d,
  convBn,
  convBnAddRelu,
  crossEntropy,
  ForwardContext,
  globalAvgPool,
  maxPool2d,
  ModelBuilder,
  nativeKernelCalls,
  padChannels,
  relu6,
  Rng,
  Sgd,
  subsample2,
  type BatchStats,
  type Network,
  type ParamEntry,
} from "@gap/ml-core";
import { inputGradient, Pgd } from "@gap/algorithms";
import type { SelfCheck } from "@gap/proto";

type Metric = "max" | "l2" | "share";

/** One output of a check and how it is compared. */
interface Output {
  /** What it is, e.g. "avg pool" or "avg pool, gradient wrt input 1". */
  label: string;
  tensor: tf.Tensor;
  metric: Metric;
  /** The largest error accepted (see the module comment for what each metric measures). */
  tolerance: number;
}

/** One comparison of the workload. */
interface Check {
  name: string;
  /**
   * Builds its inputs from fixed seeds and returns its outputs; runs inside
   * tf.tidy on the active backend. Variables it makes go to `own`, disposed after.
   */
  run(own: (variable: tf.Variable) => void): Output[];
}

export interface CheckResult {
  name: string;
  /** The output closest to its tolerance (the one that disagreed, when the check failed), and its metric. */
  output: string;
  metric: Metric;
  error: number;
  tolerance: number;
  passed: boolean;
}

export interface SelfCheckReport {
  /** The backend checked (tfjs name). */
  backend: string;
  passed: boolean;
  /** Both backends, in seconds. */
  seconds: number;
  /** Empty when the backend is cpu, the reference itself. */
  results: CheckResult[];
  /** The native kernels the workload ran (wasm with oneDNN only), with their call counts. */
  nativeKernels: Record<string, number>;
}

/** Tolerances: float32 single ops, gradients of single ops, ops bit for bit the same by construction, whole-network gradients. */
const OP = 1e-4;
const GRAD = 1e-3;
const EXACT = 1e-6;
// Through a whole network rounding compounds, and a ReLU input within rounding of 0 may
// switch its gate (measured on the tiny ResNet, wasm + oneDNN vs cpu: 6e-7).
const NETWORK = 1e-3;
// sign(gradient) of a PGD step flips only where the gradient is within rounding of 0.
const FLIPPED_SIGNS = 0.01;

type Labelled = Array<[label: string, tensor: tf.Tensor]>;
const as = (metric: Metric, tolerance: number) => (outputs: Labelled): Output[] => outputs.map(([label, tensor]) => ({ label, tensor, metric, tolerance }));

const uniform = (rng: Rng, shape: number[], low = -1, high = 1) =>
  tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => low + (high - low) * rng.nextFloat()), shape, "float32");

function param(rng: Rng, own: (v: tf.Variable) => void, shape: number[], kind: ParamEntry["kind"], low = -1, high = 1): ParamEntry {
  const variable = tf.variable(uniform(rng, shape, low, high), true);
  own(variable);
  return { name: `self-check.${variable.name}`, variable, kind, prunable: false };
}

/** A BatchNorm layer with random statistics (positive variances). */
function batchNorm(rng: Rng, own: (v: tf.Variable) => void, channels: number): BatchNorm {
  const buffer = (low: number, high: number) => {
    const variable = tf.variable(uniform(rng, [channels], low, high), false);
    own(variable);
    return { name: "self-check.buffer", variable };
  };
  return new BatchNorm("self-check.bn", param(rng, own, [channels], "bn_weight", 0.5, 1.5), param(rng, own, [channels], "bn_bias"), buffer(-0.5, 0.5), buffer(0.5, 2), 1e-5);
}

/** f's value and the gradients of sum(f * dy) with respect to xs, dy fixed, labelled after `op`. */
function withGradients(rng: Rng, op: string, xs: tf.Tensor[], f: (...xs: tf.Tensor[]) => tf.Tensor): Labelled {
  const y = f(...xs);
  const dy = uniform(rng, y.shape);
  const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), dy)))(xs);
  return [[op, y], ...grads.map((g, i): [string, tf.Tensor] => [`${op}, gradient wrt input ${i + 1}`, g])];
}

/** A forward's context; training-mode batch statistics go to `stats` (kept tensors: the caller disposes or returns them). */
const context = (training: boolean, stats: BatchStats[] = []) => new ForwardContext({ training, dropoutSeed: 1234 }, (s) => stats.push(s));

/** The tiny model's input: 8x8 RGB images, four at a time. */
const TINY = { architecture: "resnet20", numClasses: 10, inputShape: { height: 8, width: 8, channels: 3 } } as const;
const TINY_BATCH = [4, 8, 8, 3];

/**
 * A tiny CIFAR ResNet from the layers ResNet20 is made of (models/resnet.ts): a
 * conv-BN-ReLU stem, an identity block and a strided block with the option-A
 * shortcut, global average pooling, a linear classifier; 8 and 16 channels.
 * A whole ResNet20 step took the cpu backend over ten seconds here; this one
 * about a tenth of a second. (The config's architecture is only a label.)
 */
function tinyResNet(seed: number): Network {
  const b = new ModelBuilder(seed);
  const init = { kind: "kaiming_normal", mode: "fan_in" } as const;
  const conv3x3 = (name: string, inChannels: number, outChannels: number, stride: number) =>
    b.conv2d(name, { inChannels, outChannels, kernelSize: 3, stride, padding: 1, init });
  const stem = { conv: conv3x3("conv1", 3, 8, 1), bn: b.batchNorm("bn1", 8) };
  const blocks = (
    [
      ["layer1.0", 8, 8, 1, null],
      ["layer2.0", 8, 16, 2, 4],
    ] as const
  ).map(([name, inPlanes, planes, stride, shortcutPad]) => ({
    name,
    conv1: conv3x3(`${name}.conv1`, inPlanes, planes, stride),
    bn1: b.batchNorm(`${name}.bn1`, planes),
    conv2: conv3x3(`${name}.conv2`, planes, planes, 1),
    bn2: b.batchNorm(`${name}.bn2`, planes),
    shortcutPad,
  }));
  const linear = b.linear("linear", 16, TINY.numClasses, { init, classifier: true });
  return b.build(TINY, (z, ctx) => {
    let x = convBn(stem.conv, stem.bn, z, ctx, "conv1", "relu");
    for (const blk of blocks) {
      const h = convBn(blk.conv1, blk.bn1, x, ctx, `${blk.name}.conv1`, "relu");
      const shortcut = blk.shortcutPad === null ? x : padChannels(subsample2(x), blk.shortcutPad, blk.shortcutPad);
      x = convBnAddRelu(blk.conv2, blk.bn2, h, shortcut, ctx, { conv: `${blk.name}.conv2`, add: `${blk.name}.add` });
    }
    return linear.apply(globalAvgPool(x), ctx);
  });
}

const CHECKS: readonly Check[] = [
  {
    name: "conv2d and its gradients",
    run: () => {
      const rng = new Rng(1);
      const [x, w] = [uniform(rng, [2, 9, 9, 8]), uniform(rng, [3, 3, 8, 16])];
      const same = withGradients(rng, "conv2d", [x, w], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"));
      const strided = withGradients(rng, "strided conv2d", [x, w], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1));
      // 16 -> 16 channels, 16 columns wide: the addon's own 3x3 kernel (libs/native/src/conv3x3.cc), forward and input gradient.
      const [x16, w16] = [uniform(rng, [2, 3, 16, 16]), uniform(rng, [3, 3, 16, 16])];
      const own = withGradients(rng, "conv2d onto 16 channels", [x16, w16], (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"));
      return as("max", GRAD)([...same, ...strided, ...own]);
    },
  },
  {
    name: "depthwise conv2d and its gradients",
    run: () => {
      const rng = new Rng(2);
      const [x, w] = [uniform(rng, [2, 8, 8, 8]), uniform(rng, [3, 3, 8, 1])];
      return as("max", GRAD)(withGradients(rng, "depthwise conv2d", [x, w], (a, b) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same")));
    },
  },
  {
    name: "batch norm, training mode (+ReLU): output, gradients, batch and running statistics",
    run: (own) => {
      const rng = new Rng(3);
      const bn = batchNorm(rng, own, 16);
      const x = uniform(rng, [4, 5, 5, 16], -2, 3);
      const stats: BatchStats[] = [];
      const outputs: Labelled = [];
      for (const relu of [false, true]) {
        const op = relu ? "batch norm + ReLU" : "batch norm";
        const dy = uniform(rng, x.shape);
        const loss = (xi: tf.Tensor): tf.Scalar => tf.sum(tf.mul(bn.apply(xi as tf.Tensor4D, context(true, stats), relu), dy));
        const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar, [bn.weight.variable, bn.bias.variable]);
        outputs.push([`${op} (summed)`, value], [`${op}, gradient wrt scale`, grads[bn.weight.variable.name]!], [`${op}, gradient wrt offset`, grads[bn.bias.variable.name]!]);
        outputs.push([`${op}, gradient wrt input`, tf.grad(loss)(x)]);
      }
      bn.update(stats[0]!, 0.1);
      outputs.push(["running mean", bn.runningMean.variable.clone()], ["running variance", bn.runningVar.variable.clone()]);
      for (const s of stats) outputs.push(["batch mean", s.mean], ["batch variance (unbiased)", s.variance]);
      return as("max", GRAD)(outputs);
    },
  },
  {
    name: "batch norm, inference mode (+ReLU), and its input gradient",
    run: (own) => {
      const rng = new Rng(4);
      const bn = batchNorm(rng, own, 16);
      const x = uniform(rng, [3, 6, 6, 16], -2, 2);
      return as("max", GRAD)(
        [false, true].flatMap((relu) => withGradients(rng, relu ? "inference batch norm + ReLU" : "inference batch norm", [x], (xi) => bn.apply(xi as tf.Tensor4D, context(false), relu))),
      );
    },
  },
  {
    name: "conv + folded batch norm (+residual, ReLU, ReLU6) and gradients",
    run: (own) => {
      const rng = new Rng(5);
      // 16 channels, 16 columns wide: the addon's own 3x3 kernel; the tiny ResNet below runs oneDNN's fused conv.
      const conv = new Conv2d(param(rng, own, [3, 3, 16, 16], "conv"), null, 1, 1, false);
      const bn = batchNorm(rng, own, 16);
      const [x, shortcut] = [uniform(rng, [2, 3, 16, 16]), uniform(rng, [2, 3, 16, 16])];
      return as("max", GRAD)([
        ...withGradients(rng, "conv + batch norm + ReLU6", [x], (xi) => convBn(conv, bn, xi as tf.Tensor4D, context(false), "c", "relu6")),
        ...withGradients(rng, "conv + batch norm + residual + ReLU", [x, shortcut], (xi, si) =>
          convBnAddRelu(conv, bn, xi as tf.Tensor4D, si as tf.Tensor4D, context(false), { conv: "c", add: "a" }),
        ),
      ]);
    },
  },
  {
    name: "pooling (max with padding, average, global average) and gradients",
    run: () => {
      const rng = new Rng(6);
      const x = uniform(rng, [2, 9, 9, 8]);
      return as("max", OP)([
        ...withGradients(rng, "max pool", [x], (xi) => maxPool2d(xi as tf.Tensor4D, 3, 2, 1)),
        ...withGradients(rng, "avg pool", [x], (xi) => tf.avgPool(xi as tf.Tensor4D, 2, 2, "valid")),
        ...withGradients(rng, "global avg pool", [x], (xi) => globalAvgPool(xi as tf.Tensor4D)),
      ]);
    },
  },
  {
    name: "ReLU, ReLU6, residual add + ReLU, dropout and their gradients",
    run: () => {
      const rng = new Rng(7);
      // 2^15 elements: large enough for the native elementwise kernels.
      const [a, b] = [uniform(rng, [8, 16, 16, 16], -8, 8), uniform(rng, [8, 16, 16, 16], -8, 8)];
      return as("max", EXACT)([
        ...withGradients(rng, "ReLU", [a], (x) => tf.relu(x)),
        ...withGradients(rng, "ReLU6", [a], (x) => relu6(x)),
        ...withGradients(rng, "add + ReLU", [a, b], (x, y) => addRelu(x, y)),
        ...withGradients(rng, "dropout", [a], (x) => context(true).dropout(x, 0.3)),
      ]);
    },
  },
  {
    name: "SGD with Nesterov momentum and weight decay, two steps",
    run: (own) => {
      const rng = new Rng(8);
      const w = param(rng, own, [64, 64], "linear").variable;
      const sgd = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
      for (let step = 0; step < 2; step++) sgd.step(new Map([["self-check", w]]), { "self-check": uniform(rng, w.shape) }, 0.1);
      const momentum = sgd.momentumState().get("self-check")!;
      sgd.dispose();
      return as("max", EXACT)([
        ["parameter", w.clone()],
        ["momentum buffer", tf.tensor(momentum)],
      ]);
    },
  },
  {
    name: "training step of a tiny ResNet: loss, gradients, running statistics",
    run: (own) => {
      const model = tinyResNet(0);
      [...model.params, ...model.buffers].forEach((p) => own(p.variable));
      const rng = new Rng(9);
      const x = uniform(rng, TINY_BATCH, 0, 1) as tf.Tensor4D;
      const labels = tf.tensor1d([3, 7, 0, 9], "int32");
      const { value, grads } = tf.variableGrads(() => crossEntropy(model.forward(x, { training: true }), labels), model.params.map((p) => p.variable));
      model.commitBatchStats();
      return as("l2", NETWORK)([
        ["loss", value],
        ...model.params.map((p): [string, tf.Tensor] => [`gradient of ${p.name}`, grads[p.variable.name]!]),
        ...model.buffers.map((b): [string, tf.Tensor] => [b.name, b.variable.clone()]),
      ]);
    },
  },
  {
    name: "PGD step on a tiny ResNet: input gradient and adversarial images",
    run: (own) => {
      const model = tinyResNet(1);
      [...model.params, ...model.buffers].forEach((p) => own(p.variable));
      const rng = new Rng(10);
      const images = uniform(rng, TINY_BATCH, 0, 1) as tf.Tensor4D;
      const labels = tf.tensor1d([1, 4, 4, 8], "int32");
      const config = { eps: 8 / 255, stepSize: 2 / 255, steps: 1, randomStart: false, labelMode: "true", inputSpace: "pixel" } as const;
      return [
        ...as("l2", NETWORK)([["input gradient", inputGradient(model, images, labels)]]),
        ...as("share", FLIPPED_SIGNS)([["adversarial images", new Pgd().perturb({ model, images, labels, seed: 0 }, config)]]),
      ];
    },
  },
];

/** The names of the comparisons, in order (for documentation and tests). */
export const SELF_CHECKS = CHECKS.map((c) => c.name);

interface Computed {
  values: Float32Array[];
  metrics: Array<Pick<Output, "label" | "metric" | "tolerance">>;
}

/** Runs every check on the active backend; returns each check's outputs as plain arrays. */
async function runAll(only: (name: string) => boolean): Promise<Computed[]> {
  const computed: Computed[] = [];
  for (const check of CHECKS.filter((c) => only(c.name))) {
    const owned: tf.Variable[] = [];
    let metrics: Computed["metrics"] = [];
    try {
      const outputs = tf.tidy(() => {
        const out = check.run((v) => owned.push(v));
        metrics = out.map(({ label, metric, tolerance }) => ({ label, metric, tolerance }));
        return out.map((o) => o.tensor);
      });
      computed.push({ values: await Promise.all(outputs.map(async (t) => Float32Array.from(await t.data()))), metrics });
      tf.dispose(outputs);
    } finally {
      tf.dispose(owned);
    }
  }
  return computed;
}
/** The error of `got` against `want` by `metric` (see the module comment); Infinity for a shape or NaN/infinity mismatch. */
function error(metric: Metric, got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let scale = metric === "max" ? 1 : 0;
  let differing = 0;
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (Number.isFinite(w)) scale = metric === "max" ? Math.max(scale, Math.abs(w)) : scale + w * w;
    if (Object.is(g, w)) continue;
    const d = Math.abs(g - w);
    if (!Number.isFinite(d)) return Infinity; // NaN or an infinity on one side only
    if (metric === "max") diff = Math.max(diff, d);
    else if (metric === "l2") diff += d * d;
    else if (d > 1e-6 * Math.max(1, Math.abs(w))) differing++;
  }
  if (metric === "share") return want.length === 0 ? 0 : differing / want.length;
  return metric === "l2" ? Math.sqrt(diff / Math.max(scale, 1e-30)) : diff / scale;
}

/**
 * Runs the workload on the active backend and on cpu, then makes the active
 * backend active again. With cpu active there is nothing to compare: passed,
 * no results. `only` picks checks by name (tests).
 */
export async function runSelfCheck(only: (name: string) => boolean = () => true): Promise<SelfCheckReport> {
  const started = performance.now();
  const backend = tf.getBackend();
  if (backend === "cpu") return { backend, passed: true, seconds: (performance.now() - started) / 1000, results: [], nativeKernels: {} };
  nativeKernelCalls(true);
  const got = await runAll(only);
  const nativeKernels = nativeKernelCalls(true);
  if (!(await tf.setBackend("cpu"))) throw new Error("the self-check's reference backend (cpu) failed to initialise");
  let want: Computed[];
  try {
    want = await runAll(only);
  } finally {
    await tf.setBackend(backend);
  }
  const results = CHECKS.filter((c) => only(c.name)).map((check, i): CheckResult => {
    const [g, w] = [got[i]!, want[i]!];
    // The output closest to its tolerance speaks for the check.
    const compared = w.metrics.map(({ label, metric, tolerance }, j) => ({
      output: label,
      metric,
      tolerance,
      error: g.values.length === w.values.length ? error(metric, g.values[j]!, w.values[j]!) : Infinity,
    }));
    const worst = compared.reduce((a, b) => (b.error / b.tolerance > a.error / a.tolerance ? b : a));
    return { name: check.name, ...worst, passed: compared.every((c) => c.error <= c.tolerance) };
  });
  return { backend, passed: results.every((r) => r.passed), seconds: (performance.now() - started) / 1000, results, nativeKernels };
}

const short = (x: number) => (Number.isFinite(x) ? x.toPrecision(2) : String(x));

/** "check: output, metric error e (tolerance t)" of one result. */
export const describeResult = (r: CheckResult) => `${r.name}: ${r.output}, ${r.metric} error ${short(r.error)} (tolerance ${short(r.tolerance)})`;

/** The report as JobInfo carries it: the comparison closest to its tolerance stands for the rest. */
export function selfCheckInfo(report: SelfCheckReport): Omit<SelfCheck, "$typeName"> {
  const worst = [...report.results].sort((a, b) => b.error / b.tolerance - a.error / a.tolerance)[0];
  return {
    passed: report.passed,
    checks: report.results.length,
    seconds: report.seconds,
    worst: worst ? describeResult(worst) : `${report.backend} is the reference backend: nothing to compare`,
  };
}
