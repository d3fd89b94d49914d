export * from "./types.js";
export * from "./rng.js";
export * from "./cifar10.js";
export * from "./fashion-mnist.js";
export * from "./synthetic.js";
export * from "./subset.js";
export * from "./batches.js";
export * from "./tar.js";
