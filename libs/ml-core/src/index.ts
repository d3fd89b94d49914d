export * from "./nn/model.js";
export * from "./data/index.js";
export * from "./train/index.js";
export * from "./nn/index.js";
export * from "./models/index.js";
export * from "./io/index.js";
export * from "./runtime/index.js";
