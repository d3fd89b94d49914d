export * from "./attacks/index.js";
export * from "./metrics/index.js";
export * from "./pruning/index.js";
export * from "./quantization/index.js";
