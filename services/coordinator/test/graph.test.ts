import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { ArtifactKind, ExperimentSpecSchema, PruningScope, PruningStrategy, StrategyScopeSchema } from "@gap/proto";
import { describe, expect, it } from "vitest";
import { ARCHITECTURE_NAMES } from "@gap/compute";
import { baseWeightsId, buildGraph, PRESETS, STEP_KINDS, stepCount, validateSpec, type StepOutput } from "../src/index.js";

const spec = (name: string) => validateSpec(create(ExperimentSpecSchema, PRESETS[name]!));

const artifact = (key: string): StepOutput => ({ artifact: { $typeName: "gap.v1.ArtifactRef", bucket: "b", key, sha256: "", sizeBytes: 0n, kind: ArtifactKind.UNSPECIFIED } });

/** Runs the graph without services: each step's output (and each given base model) names an artifact of its own. */
function requests(name: string) {
  const s = spec(name);
  const steps = buildGraph(s);
  const outputs = new Map<string, StepOutput>(s.baseWeights.map((b) => [baseWeightsId(ARCHITECTURE_NAMES[b.architecture]!), artifact(`given/${b.architecture}`)]));
  const seen = new Map<string, string>();
  const order: string[] = [];
  for (const step of steps) {
    for (const dep of step.deps) expect(outputs.has(dep), `${step.id} depends on ${dep}, which comes later`).toBe(true);
    const schema = STEP_KINDS[step.kind].request as DescMessage;
    const digest = Buffer.from(toBinary(schema, create(schema, step.request(outputs) as never))).toString("base64");
    expect(seen.get(digest), `${step.id} sends the same request as ${seen.get(digest)}`).toBeUndefined();
    seen.set(digest, step.id);
    outputs.set(step.id, artifact(step.id));
    order.push(step.id);
  }
  return { steps, order };
}

describe("experiment graph", () => {
  it("presets validate", () => {
    for (const name of Object.keys(PRESETS)) expect(() => spec(name), name).not.toThrow();
  });

  it("quick: 259 steps from the committed ResNet20, dependencies first, no two steps asking for the same thing", () => {
    const { steps } = requests("quick");
    // Base (given, not trained): 2 attacks, evaluate, quantize + 3 int8 evaluations (adversarial = transfer there) = 7;
    // each of 7 pairs at 3 ratios: prune, fine-tune, evaluate, attack, 3 evaluations, quantize, 4 int8 evaluations = 12.
    expect(steps).toHaveLength(7 + 7 * 3 * 12);
    expect(new Set(steps.map((s) => s.id)).size).toBe(steps.length);
    expect(steps.filter((s) => s.kind === "train").every((s) => s.id.endsWith("/finetune"))).toBe(true);
    const finetune = steps.find((s) => s.id === "resnet20/t0/gap-global/p8/finetune")!;
    expect(finetune.deps).toContain("resnet20/base-weights");
  });

  it("paper-cpu: three trials of the 7 x 5 grid, all from the same given weights", () => {
    const { steps } = requests("paper-cpu");
    expect(steps).toHaveLength(3 * (7 + 7 * 5 * 12));
    const prunes = steps.filter((s) => s.kind === "prune");
    expect(prunes).toHaveLength(3 * 35);
    expect(prunes.every((s) => s.deps[0] === "resnet20/base-weights")).toBe(true);
  });

  it("paper: the full grid, every result row filled by some step", () => {
    const s = spec("paper");
    const { steps } = requests("paper");
    const perTrial = 8 + s.strategies.length * s.compressionRatios.length * 12;
    expect(steps).toHaveLength(s.architectures.length * s.trials * perTrial);
    const rows = new Set(steps.flatMap((step) => step.fills.map((f) => JSON.stringify([f.row.architecture, f.row.strategy?.strategy, f.row.strategy?.scope, f.row.compressionRatio, f.row.trial, f.row.quantized]))));
    expect(rows.size).toBe(s.architectures.length * s.trials * (1 + s.strategies.length * s.compressionRatios.length) * 2);
    const gapPrunes = steps.filter((step) => step.kind === "prune" && step.id.includes("/gap-"));
    expect(gapPrunes.every((step) => step.deps.some((d) => d.endsWith("/attack")))).toBe(true);
  });

  it("counts steps without building the graph, for every preset and without held-out sets or base weights", () => {
    for (const name of Object.keys(PRESETS)) expect(stepCount(spec(name)), name).toBe(buildGraph(spec(name)).length);
    const variant = create(ExperimentSpecSchema, { ...spec("quick"), heldOutLimit: 0, baseWeights: [], trials: 2 });
    expect(stepCount(variant)).toBe(buildGraph(variant).length);
  });

  it("refuses repeated entries and grids over the step cap, naming the field", () => {
    const s = spec("quick");
    expect(() => validateSpec(create(ExperimentSpecSchema, { ...s, compressionRatios: [2, 8, 2] }))).toThrow(/^spec\.compression_ratios\[2\]: repeats an earlier entry/);
    expect(() => validateSpec(create(ExperimentSpecSchema, { ...s, strategies: [...s.strategies, s.strategies[3]!] }))).toThrow(/^spec\.strategies\[7\]: repeats/);
    const ratios = Array.from({ length: 10_000 }, (_, i) => 2 + i / 10);
    expect(() => validateSpec(create(ExperimentSpecSchema, { ...s, compressionRatios: ratios }))).toThrow(/^spec: makes 840007 steps, more than the 20000/);
  });

  it("validation names the field", () => {
    const bad = spec("quick");
    bad.strategies = [create(StrategyScopeSchema, { strategy: PruningStrategy.RANDOM, scope: PruningScope.LAYER })];
    expect(() => validateSpec(bad)).toThrow(/spec\.strategies\[0\]\.scope/);
  });
});
