export * from "./nn/model.js";
export * from "./data/index.js";
export * from "./train/index.js";
