export * from "./adversarial-set.js";
export * from "./adversarial-set-io.js";
export * from "./attack.js";
export * from "./fgsm.js";
export * from "./pgd.js";
