/** What this library offers without loading TensorFlow.js: the coordinator's imports (the safetensors codec, seeds). */
export * from "./io/safetensors.js";
export { deriveSeed } from "./data/rng.js";
