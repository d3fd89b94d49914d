/** What this library offers without loading TensorFlow.js: the coordinator's imports (its report's metrics, the scope check). */
export * from "./metrics/index.js";
export * from "./pruning/scopes.js";
