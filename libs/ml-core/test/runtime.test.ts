// Backend selection, reporting and the kernel-registry helpers.
// Tests run in order: the first one sees the process before any backend choice.
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  BACKEND_CHOICES,
  backendInfo,
  initBackend,
  kernelsUsedBy,
  listMissingKernels,
  parseBackendChoice,
  registerExtraGradients,
  registerWasmKernels,
  type BackendSelection,
} from "../src/runtime/index.js";

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nodeGpu = installed("@tensorflow/tfjs-node-gpu");
const nodeCpu = installed("@tensorflow/tfjs-node");

const savedEnv = process.env["GAP_BACKEND"];
afterAll(() => {
  if (savedEnv === undefined) delete process.env["GAP_BACKEND"];
  else process.env["GAP_BACKEND"] = savedEnv;
});

describe("initBackend", () => {
  it("auto takes the first loadable backend and logs why the others were skipped", async () => {
    const records: BackendSelection[] = [];
    const info = await initBackend("auto", { log: (r) => records.push(r) });
    expect(tf.getBackend()).toBe(info.name);
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(record).toMatchObject({ event: "backend_selected", requested: "auto", backend: info.name, choice: info.choice });
    const order = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"];
    // Everything before the chosen backend was tried and skipped, with a reason.
    expect(record.skipped.map((s) => s.choice)).toEqual(order.slice(0, order.indexOf(info.choice)));
    for (const skip of record.skipped) {
      expect(skip.reason.length).toBeGreaterThan(0);
      expect(skip.package).toMatch(/^@tensorflow\//);
    }
    if (!nodeGpu && !nodeCpu) {
      // This machine: no native TensorFlow, so auto lands on wasm with SIMD.
      expect(info).toMatchObject({ name: "wasm", choice: "wasm", package: "@tensorflow/tfjs-backend-wasm", simd: true });
      expect(record.skipped[0]!.reason).toContain("@tensorflow/tfjs-node-gpu");
      expect(record.skipped[1]!.reason).toContain("@tensorflow/tfjs-node");
    }
    // Idempotent: same object, no second log line.
    expect(await initBackend("auto", { log: (r) => records.push(r) })).toBe(info);
    expect(records).toHaveLength(1);
  });

  it("wasm reports SIMD and its (single) thread", async () => {
    const info = await initBackend("wasm", { log: () => {} });
    expect(info).toMatchObject({ name: "wasm", choice: "wasm", package: "@tensorflow/tfjs-backend-wasm" });
    expect(typeof info.simd).toBe("boolean");
    // Node has no worker support for the threaded wasm build (see backend.ts).
    expect(info.threads).toBe(1);
    expect(backendInfo()).toEqual(info);
    // The binaries were found and the backend computes.
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync());
    expect(sum).toEqual([4, 6]);
  });

  it("writes one JSON line to stderr by default and switches backends on request", async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    let cpu;
    try {
      cpu = await initBackend("cpu");
    } finally {
      spy.mockRestore();
    }
    const lines = writes.filter((w) => w.startsWith("{"));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: "backend_selected", requested: "cpu", backend: "cpu", skipped: [] });
    expect(cpu).toMatchObject({ name: "cpu", package: "@tensorflow/tfjs-backend-cpu" });
    expect(tf.getBackend()).toBe("cpu");
    expect(backendInfo().name).toBe("cpu");

    // Asking for wasm again returns the cached info and makes wasm active again.
    const wasm = await initBackend("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(backendInfo()).toEqual(wasm);
  });

  it.runIf(!nodeCpu)("an explicit backend that cannot load names its package", async () => {
    await expect(initBackend("tensorflow", { log: () => {} })).rejects.toThrow(
      /Backend "tensorflow" is not available: could not load @tensorflow\/tfjs-node /,
    );
  });

  it.runIf(!nodeGpu)("tensorflow-gpu likewise", async () => {
    await expect(initBackend("tensorflow-gpu", { log: () => {} })).rejects.toThrow(/@tensorflow\/tfjs-node-gpu/);
  });

  it("defaults to GAP_BACKEND and rejects unknown values", async () => {
    process.env["GAP_BACKEND"] = "cpu";
    const info = await initBackend();
    expect(info.name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    process.env["GAP_BACKEND"] = "tpu";
    await expect(initBackend()).rejects.toThrow(/Unknown backend "tpu".*auto, tensorflow-gpu, tensorflow, wasm, cpu/);
    delete process.env["GAP_BACKEND"];
    await initBackend("wasm");
  });
});

describe("parseBackendChoice", () => {
  it("accepts the choices, treats empty as auto, rejects anything else", () => {
    for (const c of BACKEND_CHOICES) expect(parseBackendChoice(c)).toBe(c);
    expect(parseBackendChoice(undefined)).toBe("auto");
    expect(parseBackendChoice("  ")).toBe("auto");
    expect(parseBackendChoice(" wasm ")).toBe("wasm");
    expect(() => parseBackendChoice("gpu")).toThrow(/expected one of/);
  });
});

describe("kernel registry helpers", () => {
  it("listMissingKernels reports unregistered kernels once each", () => {
    expect(listMissingKernels(["Conv2D", "NoSuchKernel", "Conv2DBackpropFilter", "NoSuchKernel"], "wasm")).toEqual([
      "NoSuchKernel",
    ]);
    expect(listMissingKernels(["Conv2DBackpropFilter", "UnsortedSegmentSum"], "cpu")).toEqual([]);
    expect(listMissingKernels(["Conv2D"], "no-such-backend")).toEqual(["Conv2D"]);
  });

  it("the runtime's wasm kernels and gradients are registered, and registering again adds nothing", () => {
    for (const k of [
      "Conv2DBackpropFilter",
      "DepthwiseConv2dNativeBackpropFilter",
      "DepthwiseConv2dNativeBackpropInput",
      "UnsortedSegmentSum",
    ]) {
      expect(tf.getKernel(k, "wasm")).toBeDefined();
    }
    expect(tf.getGradient("StridedSlice")).toBeDefined();
    expect(registerWasmKernels()).toEqual([]);
    expect(registerExtraGradients()).toEqual([]);
  });

  it("kernelsUsedBy lists dispatched kernels (not op scopes) and frees the result", async () => {
    await initBackend("wasm");
    const before = tf.memory().numTensors;
    const names = await kernelsUsedBy(() => tf.logSoftmax(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3])));
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["Exp", "Log", "Max", "Sub", "Sum"]));
    expect(names.some((n) => n.endsWith("__op"))).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
  });
});
