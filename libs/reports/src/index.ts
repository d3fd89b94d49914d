export * from "./claims.js";
export * from "./figures.js";
export * from "./html.js";
export * from "./report.js";
export * from "./rows.js";
export * from "./tables.js";
