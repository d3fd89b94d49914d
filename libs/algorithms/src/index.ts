export * from "./attacks/index.js";
export * from "./pruning/index.js";
