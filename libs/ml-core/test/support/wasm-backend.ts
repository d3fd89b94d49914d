import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll } from "vitest";
import { initBackend } from "../../src/runtime/index.js";

/** Runs the file's tests on the wasm backend (with the runtime's kernels), and puts the previous backend back after them. */
export function onWasmBackend(): void {
  let previous: string;
  beforeAll(async () => {
    previous = tf.getBackend();
    await initBackend("wasm", { log: () => {} });
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });
}
