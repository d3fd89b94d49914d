// The TypeScript side's codes and parameter records (runtime/native/addon.ts) against
// the addon's own statement of them (info().contract, from gap_native.h's enums).
import { describe, expect, it } from "vitest";
import { FusedActivation, addonContract, BinaryOp, CONV_PARAM_FIELDS, ConvDirection, initBackend, MATMUL_PARAM_FIELDS, nativeStatus, POOL_PARAM_FIELDS } from "@gap/ml-core";

await initBackend("wasm", { log: () => {} });
const contract = addonContract();
if (contract == null) console.warn(`addon contract test skipped: ${nativeStatus().reason}`);

describe.skipIf(contract == null)("the contract between TypeScript and the addon", () => {
  it("names the same codes for conv directions, activations and binary ops", () => {
    expect(contract!.convDirection).toEqual({ ...ConvDirection });
    expect(contract!.activation).toEqual({ ...FusedActivation });
    expect(contract!.binaryOp).toEqual({ ...BinaryOp });
  });

  it("orders the conv, pool and matmul parameter arrays' fields the same way", () => {
    expect(contract!.convParams).toEqual([...CONV_PARAM_FIELDS]);
    expect(contract!.poolParams).toEqual([...POOL_PARAM_FIELDS]);
    expect(contract!.matMulParams).toEqual([...MATMUL_PARAM_FIELDS]);
  });
});
