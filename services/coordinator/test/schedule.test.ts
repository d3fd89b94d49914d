import { create } from "@bufbuild/protobuf";
import { ExperimentSpecSchema } from "@gap/proto";
import { describe, expect, it } from "vitest";
import { buildGraph, PRESETS, validateSpec } from "../src/index.js";
import { chainLengths, nextStep } from "../src/schedule.js";

const steps = buildGraph(validateSpec(create(ExperimentSpecSchema, PRESETS.quick!)));
const chains = chainLengths(steps);
const byId = (id: string) => steps.find((s) => s.id === id)!;
const busy = (entries: Record<string, number> = {}) => new Map(Object.entries(entries));

describe("the order in which ready steps start", () => {
  it("counts the longest chain of steps waiting on each: evaluations end chains, a prune leads its fine-tuning", () => {
    for (const step of steps.filter((s) => s.kind === "evaluate")) expect(chains.get(step.id), step.id).toBe(1);
    const prune = byId("resnet20/t0/magnitude-global/p2/prune");
    const finetune = byId("resnet20/t0/magnitude-global/p2/finetune");
    expect(finetune.deps).toContain(prune.id);
    expect(chains.get(prune.id)).toBe(chains.get(finetune.id)! + 1);
    // finetune -> quantize -> int8 evaluation is its longest chain.
    expect(chains.get(finetune.id)).toBe(3);
  });

  it("starts a step of an idle service first, then the costliest kind, then the longer chain", () => {
    const evaluation = byId("resnet20/t0/evaluate");
    const prune = byId("resnet20/t0/magnitude-global/p2/prune");
    const finetune = byId("resnet20/t0/magnitude-global/p8/finetune");
    const baseAttack = byId("resnet20/t0/attack");
    const attackOnPruned = byId("resnet20/t0/magnitude-global/p8/attack");
    expect(chains.get(baseAttack.id)).toBeGreaterThan(chains.get(attackOnPruned.id)!);
    expect(nextStep([evaluation, prune, finetune], busy(), chains)).toBe(finetune);
    expect(nextStep([evaluation, prune], busy(), chains)).toBe(prune);
    expect(nextStep([evaluation, finetune], busy({ training: 1 }), chains)).toBe(evaluation);
    expect(nextStep([finetune], busy({ training: 1 }), chains)).toBe(finetune);
    expect(nextStep([attackOnPruned, baseAttack], busy(), chains)).toBe(baseAttack);
    expect(nextStep([], busy(), chains)).toBeUndefined();
  });
});
