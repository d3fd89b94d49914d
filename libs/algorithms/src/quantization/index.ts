export * from "./int8.js";
export * from "./calibrate.js";
export * from "./quantize.js";
export * from "./simulate.js";
export * from "./artifact.js";
