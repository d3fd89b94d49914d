// Preloaded (node --import tsx --import this file services/<name>/src/main.ts) to make
// one kernel of the service's backend wrong on purpose: GAP_TEST_WRONG_KERNEL (a
// pooling kernel, default AvgPool) computes with the backend's MaxPool instead. The
// service's own initBackend then finds this backend already chosen, kernel and all.
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core";
import { initBackend, parseBackendChoice } from "@gap/ml-core";

const { name: backend } = await initBackend(parseBackendChoice(process.env.GAP_BACKEND), { log: () => {} });
const wrong = process.env.GAP_TEST_WRONG_KERNEL || "AvgPool";
const original = getKernel(wrong, backend);
const standIn = getKernel("MaxPool", backend);
if (!original || !standIn) throw new Error(`no ${wrong} or MaxPool kernel on ${backend}`);
unregisterKernel(wrong, backend);
registerKernel({ ...original, kernelFunc: standIn.kernelFunc });
process.stderr.write(`${JSON.stringify({ msg: "kernel made wrong on purpose", kernel: wrong, backend })}\n`);
