export * from "./init.js";
export * from "./layers.js";
export * from "./builder.js";
export * from "./network.js";
