export * from "./linear-model.js";
