export * from "./adversarial-set.js";
export * from "./attack.js";
export * from "./fgsm.js";
export * from "./pgd.js";
