export * from "./checkpoint.js";
export * from "./evaluate.js";
export * from "./loss.js";
export * from "./masks.js";
export * from "./schedule.js";
export * from "./sgd.js";
export * from "./trainer.js";
export * from "./yield.js";
