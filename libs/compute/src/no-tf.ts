/** What this library offers without loading TensorFlow.js: the coordinator's imports (enum names, validation, store refs). */
export * from "./convert.js";
export * from "./store.js";
