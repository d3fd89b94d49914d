export * from "./artifacts.js";
export * from "./store.js";
export * from "./convert.js";
export * from "./datasets.js";
export * from "./service-main.js";
export * from "./job.js";
export * from "./self-check.js";
