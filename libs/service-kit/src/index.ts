export * from "./client.js";
export * from "./config.js";
export * from "./errors.js";
export * from "./grpc-definition.js";
export * from "./job-queue.js";
export * from "./log.js";
export * from "./server.js";
export * from "./validate.js";
