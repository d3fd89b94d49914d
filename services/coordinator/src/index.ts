export * from "./coordinator.js";
export * from "./graph.js";
export * from "./local-cluster.js";
export * from "./results.js";
export * from "./spec.js";
export * from "./table.js";
export * from "./layout.js";
export * from "./step-kinds.js";
