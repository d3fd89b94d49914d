// The backend self-check on this machine's backends: wasm (with the native
// oneDNN kernels where built) passes within seconds and runs every custom
// kernel; a kernel made wrong on purpose fails the check that uses it, naming it.
import { afterEach, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core";
import {
  convPrimitives,
  initBackend,
  nativeStatus,
  NATIVE_ADD_RELU,
  NATIVE_BN_GRAD,
  NATIVE_BN_INFERENCE_GRAD,
  NATIVE_BN_RELU,
  NATIVE_BN_TRAIN,
  NATIVE_BN_UPDATE,
  NATIVE_CONV_FUSED,
  NATIVE_DROPOUT,
  NATIVE_RELU6_GRAD,
  NATIVE_RELU6_OUTPUT_GRAD,
  NATIVE_RELU_GRAD,
  NATIVE_SGD,
} from "@gap/ml-core";
import { describeResult, runSelfCheck, SELF_CHECKS, selfCheckInfo } from "../src/index.js";

await initBackend("cpu", { log: () => {} });
await initBackend("wasm", { log: () => {} });

/** Every kernel of our own (libs/native), and the oneDNN kernels that replace tfjs's. */
const CUSTOM_KERNELS = [
  NATIVE_BN_TRAIN,
  NATIVE_BN_GRAD,
  NATIVE_BN_INFERENCE_GRAD,
  NATIVE_BN_RELU,
  NATIVE_ADD_RELU,
  NATIVE_RELU_GRAD,
  NATIVE_CONV_FUSED,
  NATIVE_RELU6_GRAD,
  NATIVE_RELU6_OUTPUT_GRAD,
  NATIVE_SGD,
  NATIVE_DROPOUT,
  NATIVE_BN_UPDATE,
];
const REPLACED_KERNELS = ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative", "MaxPool", "MaxPoolGrad", "PadV2"];

describe("backend self-check", () => {
  const restore: Array<() => void> = [];
  afterEach(() => restore.splice(0).forEach((undo) => undo()));

  it("passes on wasm within a few seconds, every custom kernel run, and leaves no tensor behind", async () => {
    await runSelfCheck(); // warm-up: oneDNN primitives, wasm compilation
    const before = tf.memory().numTensors;
    const ownConvCalls = convPrimitives()?.conv3x3Calls ?? 0;
    const report = await runSelfCheck();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.getBackend()).toBe("wasm");
    console.log(`self-check on wasm (native ${nativeStatus().enabled ? "on" : "off"}): ${report.seconds.toFixed(2)} s\n${report.results.map(describeResult).join("\n")}`);
    expect(report.results.map((r) => r.name)).toEqual(SELF_CHECKS);
    expect(report.results.filter((r) => !r.passed)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.seconds).toBeLessThan(10);
    if (nativeStatus().enabled) {
      for (const kernel of [...CUSTOM_KERNELS, ...REPLACED_KERNELS]) expect(report.nativeKernels[kernel] ?? 0, kernel).toBeGreaterThan(0);
      // Inside Conv2D, Conv2DBackpropInput and GapFusedConv2D: the addon's own 3x3 kernel.
      expect(convPrimitives()!.conv3x3Calls - ownConvCalls, "the addon's own 3x3 conv kernel").toBeGreaterThan(0);
    } else console.warn(`native kernels off (${nativeStatus().reason}): the custom kernels were not exercised`);
    const info = selfCheckInfo(report);
    expect(info).toMatchObject({ passed: true, checks: SELF_CHECKS.length });
    expect(info.worst).toMatch(/tolerance/);
  });

  it("fails when a kernel is wrong, naming the check, its error and tolerance", async () => {
    // AvgPool made wrong on purpose: the backend's MaxPool under its name.
    const original = getKernel("AvgPool", "wasm")!;
    unregisterKernel("AvgPool", "wasm");
    registerKernel({ ...original, kernelFunc: getKernel("MaxPool", "wasm")!.kernelFunc });
    restore.push(() => {
      unregisterKernel("AvgPool", "wasm");
      registerKernel(original);
    });
    const report = await runSelfCheck((name) => name.startsWith("pooling") || name.startsWith("conv2d"));
    expect(report.passed).toBe(false);
    const [conv, pooling] = report.results;
    expect(conv!.passed).toBe(true);
    expect(pooling).toMatchObject({ name: expect.stringMatching(/^pooling/), output: "avg pool", passed: false });
    expect(pooling!.error).toBeGreaterThan(pooling!.tolerance);
    expect(describeResult(pooling!)).toMatch(/^pooling .*: avg pool, max error \S+ \(tolerance 0\.00010\)$/);
    expect(selfCheckInfo(report)).toMatchObject({ passed: false, checks: 2, worst: describeResult(pooling!) });
  });

  it("has nothing to compare on cpu, the reference itself", async () => {
    await initBackend("cpu", { log: () => {} });
    try {
      const report = await runSelfCheck();
      expect(report).toMatchObject({ backend: "cpu", passed: true, results: [] });
      expect(selfCheckInfo(report).worst).toBe("cpu is the reference backend: nothing to compare");
    } finally {
      await initBackend("wasm", { log: () => {} });
    }
  });
});
