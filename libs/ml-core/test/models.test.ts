import "@tensorflow/tfjs-backend-cpu";
// Gradients (with the runtime's fixes to tfjs's own) are registered by the runtime.
import "../src/runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { countParameters, createModel, forwardMultiplyAdds, prunableParameterNames } from "../src/models/index.js";
import { type ArchitectureName, ARCHITECTURES, type InputShape, type ModelConfig } from "../src/nn/model.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const CIFAR: InputShape = { height: 32, width: 32, channels: 3 };
const MNIST: InputShape = { height: 28, width: 28, channels: 1 };
const config = (architecture: ArchitectureName, inputShape = CIFAR, numClasses = 10): ModelConfig => ({
  architecture,
  numClasses,
  inputShape,
});

/** Parameter counts of the PyTorch reference definitions (tools/pytorch/reference_models.py). */
const PYTORCH_COUNTS: Record<ArchitectureName, [number, number]> = {
  resnet20: [269_722, 269_434],
  resnet32: [464_154, 463_866],
  resnet44: [658_586, 658_298],
  resnet56: [853_018, 852_730],
  resnet110: [1_727_962, 1_727_674],
  vgg_bn_drop: [14_991_946, 14_990_794],
  googlenet: [5_610_154, 5_603_882],
  mobilenet_v2: [2_236_682, 2_236_106],
};

const CLASSIFIER: Record<string, string> = { vgg_bn_drop: "classifier.5", googlenet: "fc", mobilenet_v2: "classifier.1" };
const classifierOf = (arch: ArchitectureName) => CLASSIFIER[arch] ?? "linear";

describe.each(ARCHITECTURES)("%s", (arch) => {
  it("has the reference parameter count for 32x32x3 and 28x28x1 inputs", () => {
    for (const [shape, expected] of [
      [CIFAR, PYTORCH_COUNTS[arch][0]],
      [MNIST, PYTORCH_COUNTS[arch][1]],
    ] as const) {
      const model = createModel(config(arch, shape), 0);
      expect(countParameters(model)).toBe(expected);
      model.dispose();
    }
  });

  it("marks conv and linear tensors prunable except the final classifier, never BatchNorm", () => {
    const model = createModel(config(arch), 0);
    const classifier = classifierOf(arch);
    for (const p of model.params) {
      const isClassifier = p.name.startsWith(`${classifier}.`);
      const convOrLinear = p.kind === "conv" || p.kind === "depthwise_conv" || p.kind === "linear" || p.kind === "bias";
      expect([p.name, p.prunable]).toEqual([p.name, convOrLinear && !isClassifier]);
    }
    const prunable = new Set(prunableParameterNames(model));
    expect(prunable.has(`${classifier}.weight`)).toBe(false);
    expect(prunable.has(`${classifier}.bias`)).toBe(false);
    expect(model.params.filter((p) => p.name.startsWith(`${classifier}.`)).map((p) => p.name)).toEqual([
      `${classifier}.weight`,
      `${classifier}.bias`,
    ]);
    model.dispose();
  });
});

describe("architecture details", () => {
  it("uses PyTorch state_dict names", () => {
    const names = (arch: ArchitectureName) => {
      const model = createModel(config(arch), 0);
      const out = { params: model.params.map((p) => p.name), buffers: model.buffers.map((b) => b.name) };
      model.dispose();
      return out;
    };
    const resnet = names("resnet20");
    expect(resnet.params.slice(0, 6)).toEqual(["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"]);
    expect(resnet.params).toContain("layer3.2.bn2.bias");
    expect(resnet.params.slice(-2)).toEqual(["linear.weight", "linear.bias"]);
    expect(resnet.buffers.slice(0, 2)).toEqual(["bn1.running_mean", "bn1.running_var"]);
    const vgg = names("vgg_bn_drop");
    expect(vgg.params.slice(0, 4)).toEqual(["features.0.conv.weight", "features.0.conv.bias", "features.0.bn.weight", "features.0.bn.bias"]);
    expect(vgg.params).toContain("features.2.conv.weight"); // index 1 is a Dropout
    expect(vgg.params.slice(-6)).toEqual(["classifier.1.weight", "classifier.1.bias", "classifier.2.weight", "classifier.2.bias", "classifier.5.weight", "classifier.5.bias"]);
    const googlenet = names("googlenet");
    expect(googlenet.params.slice(0, 3)).toEqual(["conv1.conv.weight", "conv1.bn.weight", "conv1.bn.bias"]);
    expect(googlenet.params).toContain("inception3a.branch4.1.conv.weight");
    expect(googlenet.params).toContain("inception5b.branch3.1.bn.bias");
    const mobilenet = names("mobilenet_v2");
    expect(mobilenet.params.slice(0, 6)).toEqual([
      "features.0.0.weight",
      "features.0.1.weight",
      "features.0.1.bias",
      "features.1.conv.0.0.weight", // t = 1: depthwise first
      "features.1.conv.0.1.weight",
      "features.1.conv.0.1.bias",
    ]);
    expect(mobilenet.params).toContain("features.2.conv.3.bias");
    expect(mobilenet.params).toContain("features.18.0.weight");
  });

  it("keeps the hidden Linear(512, 512) of vgg_bn_drop prunable, with conv biases", () => {
    const model = createModel(config("vgg_bn_drop"), 0);
    const prunable = prunableParameterNames(model);
    expect(prunable).toContain("classifier.1.weight");
    expect(prunable).toContain("classifier.1.bias");
    expect(prunable).toContain("features.0.conv.bias");
    expect(prunable).not.toContain("classifier.2.weight");
    model.dispose();
  });

  it("stores depthwise convs of MobileNetV2 as [kh, kw, C, 1]", () => {
    const model = createModel(config("mobilenet_v2"), 0);
    const dw = model.params.find((p) => p.name === "features.2.conv.1.0.weight")!;
    expect(dw.kind).toBe("depthwise_conv");
    expect(dw.variable.shape).toEqual([3, 3, 96, 1]);
    model.dispose();
  });

  it("initialises like the PyTorch references", () => {
    const stats = (arch: ArchitectureName, name: string) => {
      const model = createModel(config(arch), 3);
      const v = model.params.find((p) => p.name === name)!.variable.dataSync() as Float32Array;
      model.dispose();
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), maxAbs: v.reduce((a, b) => Math.max(a, Math.abs(b)), 0) };
    };
    // ResNet: kaiming_normal_ (fan_in) on convs and the linear weight.
    expect(stats("resnet20", "layer3.0.conv2.weight").std / Math.sqrt(2 / (64 * 9))).toBeCloseTo(1, 1);
    expect(stats("resnet20", "linear.weight").std / Math.sqrt(2 / 64)).toBeCloseTo(1, 1);
    expect(stats("resnet20", "linear.bias").maxAbs).toBeLessThanOrEqual(1 / 8);
    // VGG: PyTorch default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const vgg = stats("vgg_bn_drop", "features.24.conv.weight");
    expect(vgg.maxAbs).toBeLessThanOrEqual(1 / Math.sqrt(512 * 9));
    expect(vgg.std / (1 / Math.sqrt(512 * 9) / Math.sqrt(3))).toBeCloseTo(1, 1);
    // GoogLeNet: trunc_normal_(std 0.01).
    expect(stats("googlenet", "inception4a.branch1.conv.weight").std).toBeCloseTo(0.01, 3);
    // MobileNetV2: kaiming_normal_ (fan_out), classifier N(0, 0.01) with zero bias.
    expect(stats("mobilenet_v2", "features.18.0.weight").std / Math.sqrt(2 / 1280)).toBeCloseTo(1, 1);
    expect(stats("mobilenet_v2", "classifier.1.weight").std).toBeCloseTo(0.01, 3);
    expect(stats("mobilenet_v2", "classifier.1.bias").maxAbs).toBe(0);
  });

  it("is deterministic per seed", () => {
    const first = (seed: number) => {
      const model = createModel(config("resnet20"), seed);
      const data = Array.from(model.params[0]!.variable.dataSync());
      model.dispose();
      return data;
    };
    expect(first(5)).toEqual(first(5));
    expect(first(5)).not.toEqual(first(6));
  });

  it.each(ARCHITECTURES)('%s: seed "zeros" builds the same variables, every weight and bias 0 and BatchNorm at its defaults', (arch) => {
    const seeded = createModel(config(arch), 0);
    const zeros = createModel(config(arch), "zeros");
    const entries = (m: typeof seeded) => [...m.params, ...m.buffers].map((e) => [e.name, e.variable.shape] as const);
    expect(entries(zeros)).toEqual(entries(seeded));
    for (const [mine, theirs] of [[zeros.params, seeded.params], [zeros.buffers, seeded.buffers]] as const) {
      mine.forEach((entry, i) => {
        const values = entry.variable.dataSync();
        const drawn = ["conv", "depthwise_conv", "linear", "bias"].includes((entry as { kind?: string }).kind ?? "");
        const want = drawn ? new Float32Array(values.length) : theirs[i]!.variable.dataSync();
        expect(values.every((v, j) => Object.is(v, want[j])), entry.name).toBe(true);
      });
    }
    seeded.dispose();
    zeros.dispose();
  });
});

describe("forward passes", () => {
  const inputs = (shape: InputShape, n: number) => tf.randomUniform([n, shape.height, shape.width, shape.channels], 0, 1, "float32", 1) as tf.Tensor4D;

  it.each(ARCHITECTURES.filter((a) => a === "resnet20" || !a.startsWith("resnet")))(
    "%s: logits of the right shape for both input shapes, no leaked tensors in eval mode",
    (arch) => {
      for (const [shape, classes] of [
        [CIFAR, 10],
        [MNIST, 7],
      ] as const) {
        const model = createModel(config(arch, shape, classes), 1);
        const x = inputs(shape, 2);
        const before = tf.memory().numTensors;
        const logits = model.forward(x, { training: false });
        expect(logits.shape).toEqual([2, classes]);
        expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
        logits.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose(x);
        model.dispose();
      }
    },
  );

  it("leaks nothing through a training step with gradients, commit and masks", () => {
    const model = createModel(config("resnet20"), 2);
    const x = inputs(CIFAR, 2);
    const masks = new Map(model.params.filter((p) => p.prunable).map((p) => [p.name, tf.onesLike(p.variable)]));
    const before = tf.memory().numTensors;
    // Gradients for the BatchNorm parameters only: conv filter gradients are very slow on the cpu backend.
    const { value, grads } = tf.variableGrads(
      () => tf.mean(model.forward(x, { training: true, masks, dropoutSeed: 1 })) as tf.Scalar,
      model.params.filter((p) => p.kind.startsWith("bn_")).map((p) => p.variable),
    );
    expect(Object.values(grads).some((g) => g.dataSync().some((v) => v !== 0))).toBe(true);
    model.commitBatchStats();
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    // The running statistics moved away from their initial (0, 1).
    expect(model.buffers[0]!.variable.dataSync().some((v) => v !== 0)).toBe(true);
    tf.dispose([x, ...masks.values()]);
    model.dispose();
  });

  it("disposes all its variables", () => {
    const before = tf.memory().numTensors;
    createModel(config("mobilenet_v2"), 0).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses a vgg_bn_drop whose pools would not reach 1x1", () => {
    expect(() => createModel(config("vgg_bn_drop", { height: 64, width: 64, channels: 3 }), 0)).toThrow(/at most 32x32/);
  });

  it("rejects inputs of another shape", () => {
    const model = createModel(config("resnet20"), 0);
    const x = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D; // NCHW by mistake
    expect(() => model.forward(x, { training: false })).toThrow(/expected NHWC input \[N, 32, 32, 3\]/);
    x.dispose();
    model.dispose();
  });
});

describe("multiply-adds of a forward pass", () => {
  it("ResNet20: 40,551,040, counted by hand from its convolutions and classifier", async () => {
    // conv1 3->16 at 32x32; 6 convs 16->16 at 32x32; 32->32 stride 2 plus 5 at 16x16; the same for 64 at 8x8; linear 64->10.
    const byHand = 32 * 32 * 16 * 27 + 6 * (32 * 32 * 16 * 144) + 16 * 16 * 32 * 144 + 5 * (16 * 16 * 32 * 288) + 8 * 8 * 64 * 288 + 5 * (8 * 8 * 64 * 576) + 64 * 10;
    const model = createModel({ architecture: "resnet20", numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } }, 0);
    expect(await forwardMultiplyAdds(model)).toBe(byHand);
    model.dispose();
  });

  it("MobileNetV2 counts its depthwise convolutions once per channel", async () => {
    const model = createModel({ architecture: "mobilenet_v2", numClasses: 10, inputShape: { height: 32, width: 32, channels: 3 } }, 0);
    const macs = await forwardMultiplyAdds(model);
    // torchvision's MobileNetV2 at 224x224 is ~300M; at 32x32 its strides leave about 6M (1/49 of it).
    expect(macs).toBeGreaterThan(5e6);
    expect(macs).toBeLessThan(8e6);
    model.dispose();
  });
});
