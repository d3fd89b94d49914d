export * from "./safetensors.js";
export * from "./layout.js";
export * from "./weights.js";
