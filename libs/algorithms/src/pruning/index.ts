export * from "./compression.js";
export * from "./gradients.js";
export * from "./masks.js";
export * from "./prune.js";
export * from "./strategies.js";
export * from "./score-cache.js";
