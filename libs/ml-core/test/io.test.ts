import "@tensorflow/tfjs-backend-cpu";
// Gradients (with the runtime's fixes to tfjs's own) are registered by the runtime.
import "../src/runtime/index.js";
import * as tf from "@tensorflow/tfjs-core";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadMasks,
  loadStateDict,
  loadWeights,
  type SafeTensor,
  saveMasks,
  saveWeights,
  stateDict,
  toTorchLayout,
  torchShape,
  valuesFromTorchLayout,
  valuesToTorchLayout,
} from "../src/io/index.js";
import { createModel } from "../src/models/index.js";
import { ARCHITECTURES, type Model, type ModelConfig } from "../src/nn/model.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const cifar = (architecture: ModelConfig["architecture"], numClasses = 10): ModelConfig => ({
  architecture,
  numClasses,
  inputShape: { height: 32, width: 32, channels: 3 },
});

describe("safetensors codec", () => {
  it("reads a file assembled by hand from the format description", () => {
    const header = JSON.stringify({
      __metadata__: { note: "hi" },
      b: { dtype: "I32", shape: [2], data_offsets: [4, 12] },
      a: { dtype: "U8", shape: [2, 2], data_offsets: [0, 4] },
    });
    const json = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + json.length + 12);
    bytes[0] = json.length; // little-endian u64 (< 256 here)
    bytes.set(json, 8);
    bytes.set([1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0], 8 + json.length);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ note: "hi" });
    expect(tensors.a).toEqual({ dtype: "U8", shape: [2, 2], data: new Uint8Array([1, 2, 3, 4]) });
    expect(tensors.b).toEqual({ dtype: "I32", shape: [2], data: new Int32Array([-1, 7]) });
  });

  it("round-trips every dtype with metadata, in order, 8-byte aligned", () => {
    const tensors: Record<string, SafeTensor> = {
      f32: { dtype: "F32", shape: [2, 3], data: new Float32Array([0.5, -1, 2, 3.25, 1e-8, -0]) },
      f64: { dtype: "F64", shape: [1], data: new Float64Array([Math.PI]) },
      i8: { dtype: "I8", shape: [3], data: new Int8Array([-128, 0, 127]) },
      u8: { dtype: "U8", shape: [3], data: new Uint8Array([0, 1, 255]) },
      i16: { dtype: "I16", shape: [1], data: new Int16Array([-300]) },
      i32: { dtype: "I32", shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      i64: { dtype: "I64", shape: [], data: new BigInt64Array([-5n]) },
      empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    };
    const bytes = encodeSafetensors(tensors, { purpose: "test" });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ purpose: "test" });
    expect(Object.keys(decoded.tensors)).toEqual(Object.keys(tensors));
    expect(decoded.tensors).toEqual(tensors);
  });

  it("rejects malformed input with a readable error", () => {
    const good = encodeSafetensors({ x: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
    expect(() => decodeSafetensors(good.subarray(0, good.length - 1))).toThrow(/x: data_offsets \[0, 8\] outside the data block/);
    expect(() => decodeSafetensors(new Uint8Array(4))).toThrow(/shorter than/);
    expect(() => encodeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array(2) } })).toThrow(/does not match 2 elements/);
    expect(() => encodeSafetensors({ x: { dtype: "I32", shape: [2], data: new Float32Array(2) } })).toThrow(/not a Int32Array/);
  });
});

/** Randomises BatchNorm running statistics so eval-mode outputs depend on them. */
function randomizeBuffers(model: Model, seed: number): void {
  tf.tidy(() =>
    model.buffers.forEach((b, i) => {
      const r = tf.randomUniform(b.variable.shape, 0.5, 1.5, "float32", seed + i);
      b.variable.assign(b.name.endsWith("running_var") ? r : tf.sub(r, 1));
    }),
  );
}

function allValues(model: Model): Map<string, Float32Array> {
  return new Map([...model.params, ...model.buffers].map((e) => [e.name, e.variable.dataSync() as Float32Array]));
}

describe("weights", () => {
  it("writes PyTorch names, order and layouts", () => {
    const model = createModel(cifar("mobilenet_v2"), 0);
    const dict = stateDict(model);
    const names = Object.keys(dict);
    expect(names.slice(0, 6)).toEqual([
      "features.0.0.weight",
      "features.0.1.weight",
      "features.0.1.bias",
      "features.0.1.running_mean",
      "features.0.1.running_var",
      "features.0.1.num_batches_tracked",
    ]);
    expect(names.slice(-2)).toEqual(["classifier.1.weight", "classifier.1.bias"]);
    expect(dict["features.0.0.weight"]!.shape).toEqual([32, 3, 3, 3]); // OIHW
    expect(dict["features.2.conv.1.0.weight"]!.shape).toEqual([96, 1, 3, 3]); // depthwise [C, 1, kh, kw]
    expect(dict["classifier.1.weight"]!.shape).toEqual([10, 1280]); // [out, in]
    expect(dict["features.0.1.num_batches_tracked"]).toEqual({ dtype: "I64", shape: [], data: new BigInt64Array(1) });
    // A conv weight element moves from HWIO [kh, kw, in, out] to OIHW [out, in, kh, kw].
    const hwio = model.params[0]!.variable.arraySync() as number[][][][];
    const oihw = dict["features.0.0.weight"]!.data as Float32Array;
    expect(oihw[((5 * 3 + 2) * 3 + 1) * 3 + 0]).toBe(hwio[1]![0]![2]![5]);
    model.dispose();
  });

  it.each(ARCHITECTURES.filter((a) => a === "resnet20" || !a.startsWith("resnet")))(
    "%s: save -> load reproduces every tensor and the logits",
    (arch) => {
      const source = createModel(cifar(arch), 1);
      randomizeBuffers(source, 11);
      const target = createModel(cifar(arch), 2);
      loadWeights(target, saveWeights(source));
      const expected = allValues(source);
      const actual = allValues(target);
      expect([...actual.keys()]).toEqual([...expected.keys()]);
      // Bitwise comparison (deep equality on millions of elements is slow).
      const differing = [...actual].filter(([name, v]) => !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(expected.get(name)!.buffer, expected.get(name)!.byteOffset, expected.get(name)!.byteLength)));
      expect(differing.map(([name]) => name)).toEqual([]);
      const x = tf.randomUniform([2, 32, 32, 3], 0, 1, "float32", 3) as tf.Tensor4D;
      const a = source.forward(x, { training: false });
      const b = target.forward(x, { training: false });
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([x, a, b]);
      source.dispose();
      target.dispose();
    },
  );

  it("lists missing, unexpected and mismatched tensors, and changes nothing", () => {
    const resnet20 = createModel(cifar("resnet20"), 1);
    const resnet32 = createModel(cifar("resnet32"), 1);
    const wide = createModel(cifar("resnet20", 100), 1);
    const bytes20 = saveWeights(resnet20);
    expect(() => loadWeights(resnet32, bytes20)).toThrow(/missing \(\d+\): layer1\.3\.conv1\.weight/);
    expect(() => loadWeights(resnet20, saveWeights(resnet32))).toThrow(/unexpected \(\d+\): layer1\.3\.conv1\.weight/);
    const before = Array.from(wide.params.at(-1)!.variable.dataSync());
    expect(() => loadWeights(wide, bytes20)).toThrow(
      /mismatched \(2\): linear\.weight: file has F32 \[10, 64\], model needs F32 \[100, 64\]; linear\.bias/,
    );
    expect(Array.from(wide.params.at(-1)!.variable.dataSync())).toEqual(before);
    const asF64 = stateDict(resnet20) as Record<string, SafeTensor>;
    asF64["conv1.weight"] = { dtype: "F64", shape: [16, 3, 3, 3], data: new Float64Array(432) };
    expect(() => loadStateDict(resnet20, asF64)).toThrow(/conv1\.weight: file has F64/);
    [resnet20, resnet32, wide].forEach((m) => m.dispose());
  });
});

describe("masks", () => {
  it("round-trip as U8 in the PyTorch layout", () => {
    const model = createModel(cifar("mobilenet_v2"), 0);
    const chosen = model.params.filter((p) => p.prunable).slice(0, 6);
    const masks = new Map(chosen.map((p, i) => [p.name, Uint8Array.from(tf.tidy(() => tf.greater(tf.randomUniform(p.variable.shape, 0, 1, "float32", i), 0.5)).dataSync())]));
    const bytes = saveMasks(model, masks);
    const file = decodeSafetensors(bytes).tensors;
    expect(file["features.1.conv.0.0.weight"]).toMatchObject({ dtype: "U8", shape: [32, 1, 3, 3] });
    const loaded = loadMasks(model, bytes);
    expect([...loaded.keys()]).toEqual([...masks.keys()]);
    for (const [name, mask] of masks) expect(Array.from(loaded.get(name)!)).toEqual(Array.from(mask));
    // The file holds the PyTorch layout: its bytes are the tfjs layout transposed.
    const conv = chosen.find((p) => p.kind === "conv")!;
    const torch = decodeSafetensors(bytes).tensors[conv.name]!;
    expect(Array.from(torch.data as Uint8Array)).toEqual(Array.from(tf.tidy(() => tf.transpose(tf.tensor(Int32Array.from(masks.get(conv.name)!), conv.variable.shape, "int32"), [3, 2, 0, 1]).dataSync())));
    const other = createModel(cifar("resnet20"), 0);
    expect(() => loadMasks(other, bytes)).toThrow(/unexpected \(6\): features\.0\.0\.weight/);
    expect(() => saveMasks(model, new Map([["features.0.0.weight", new Uint8Array(chosen[0]!.variable.size).fill(2)]]))).toThrow(/must be 0 or 1/);
    model.dispose();
    other.dispose();
  });
});

describe("layouts of plain values", () => {
  it("move masks and int8 weights as the tensor transposes do, and back", () => {
    const cases: Array<[Parameters<typeof torchShape>[0], number[]]> = [
      ["conv", [3, 3, 16, 32]],
      ["depthwise_conv", [3, 3, 24, 1]],
      ["linear", [64, 10]],
      ["bias", [32]],
    ];
    for (const [kind, shape] of cases) {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = Int8Array.from({ length: size }, (_, i) => ((i * 37) % 255) - 127);
      const expected = tf.tidy(() => toTorchLayout(kind, tf.tensor(Int32Array.from(values), shape, "int32")).dataSync());
      const torch = valuesToTorchLayout(kind, values, shape);
      expect(Array.from(torch), kind).toEqual(Array.from(expected));
      expect(Array.from(valuesFromTorchLayout(kind, torch, torchShape(kind, shape))), kind).toEqual(Array.from(values));
    }
  });
});

describe("PyTorch reference fixture (test/fixtures/resnet20.safetensors, from tools/pytorch/export_reference.py)", () => {
  const file = decodeSafetensors(readFileSync(fileURLToPath(new URL("./fixtures/resnet20.safetensors", import.meta.url))));
  const extras = (prefix: string) => Object.fromEntries(Object.entries(file.tensors).filter(([k]) => k.startsWith(prefix)));
  const weights = Object.fromEntries(Object.entries(file.tensors).filter(([k]) => !k.startsWith("__")));
  const tensorOf = (t: SafeTensor) => tf.tensor(t.data as Float32Array, t.shape, "float32");
  const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number);
  const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => maxAbs(tf.sub(a, b)));

  it("gives PyTorch's eval-mode and training-mode logits and running statistics", () => {
    const model = createModel(cifar("resnet20"), 0);
    loadStateDict(model, weights);
    const x = tf.tidy(() => tf.transpose(tensorOf(file.tensors.__input__!), [0, 2, 3, 1])) as tf.Tensor4D;
    expect(x.shape).toEqual([4, 32, 32, 3]);
    const expected = tensorOf(file.tensors.__logits__!);
    const logits = model.forward(x, { training: false });
    const evalError = maxAbsDiff(logits, expected);
    expect(evalError).toBeLessThanOrEqual(1e-4);

    // Eval-mode gradient with respect to the pixels (what PGD uses), against PyTorch's.
    // The gradient is piecewise constant: a pre-activation within rounding distance of a
    // ReLU or max-pool kink flips a whole path (PyTorch's own gradient moves by 1-5% in L2
    // under input noise of 1e-6), so the bound is on the relative L2 error, not elementwise.
    const gradError = tf.tidy(() => {
      const weights = tensorOf(file.tensors.__grad_weights__!);
      const grad = tf.grad((input) => tf.sum(tf.mul(model.forward(input as tf.Tensor4D, { training: false }), weights)))(x);
      const want = tensorOf(file.tensors.__input_grad__!);
      return (tf.norm(tf.sub(tf.transpose(grad, [0, 3, 1, 2]), want)).dataSync()[0] as number) / (tf.norm(want).dataSync()[0] as number);
    });
    expect(gradError).toBeLessThanOrEqual(5e-2);
    expect(maxAbsDiff(expected, tf.zerosLike(expected))).toBeGreaterThan(1); // logits are O(1), so the bound means something

    const expectedTrain = tensorOf(file.tensors.__train_logits__!);
    const trainLogits = model.forward(x, { training: true });
    const trainError = maxAbsDiff(trainLogits, expectedTrain);
    expect(trainError).toBeLessThanOrEqual(1e-4);
    model.commitBatchStats();
    const updated = extras("__updated__.");
    expect(Object.keys(updated).length).toBe(model.buffers.length);
    let bufferError = 0;
    for (const b of model.buffers) {
      const want = tensorOf(updated[`__updated__.${b.name}`]!);
      bufferError = Math.max(bufferError, maxAbsDiff(b.variable, want));
      want.dispose();
    }
    expect(bufferError).toBeLessThanOrEqual(1e-4);
    console.log(`resnet20 vs PyTorch: eval ${evalError.toExponential(2)}, input gradient (relative L2) ${gradError.toExponential(2)}, train ${trainError.toExponential(2)}, running stats ${bufferError.toExponential(2)}`);
    tf.dispose([x, expected, logits, expectedTrain, trainLogits]);
    model.dispose();
  });
});
