import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { ArtifactKind, ExperimentSpecSchema, PruningScope, PruningStrategy, StrategyScopeSchema } from "@gap/proto";
import { describe, expect, it } from "vitest";
import { buildGraph, PRESETS, STEP_KINDS, validateSpec, type StepOutput } from "../src/index.js";

const spec = (name: string) => validateSpec(create(ExperimentSpecSchema, PRESETS[name]!));

/** Runs the graph without services: each step's output names an artifact unique to the step. */
function requests(name: string) {
  const steps = buildGraph(spec(name));
  const outputs = new Map<string, StepOutput>();
  const seen = new Map<string, string>();
  const order: string[] = [];
  for (const step of steps) {
    for (const dep of step.deps) expect(outputs.has(dep), `${step.id} depends on ${dep}, which comes later`).toBe(true);
    const schema = STEP_KINDS[step.kind].request as DescMessage;
    const digest = Buffer.from(toBinary(schema, create(schema, step.request(outputs) as never))).toString("base64");
    expect(seen.get(digest), `${step.id} sends the same request as ${seen.get(digest)}`).toBeUndefined();
    seen.set(digest, step.id);
    outputs.set(step.id, { artifact: { $typeName: "gap.v1.ArtifactRef", bucket: "b", key: step.id, sha256: "", sizeBytes: 0n, kind: ArtifactKind.UNSPECIFIED } });
    order.push(step.id);
  }
  return { steps, order };
}

describe("experiment graph", () => {
  it("presets validate", () => {
    expect(() => spec("quick")).not.toThrow();
    expect(() => spec("paper")).not.toThrow();
  });

  it("quick: 92 steps, dependencies first, no two steps asking for the same thing", () => {
    const { steps } = requests("quick");
    // Base: train, 2 attacks, evaluate, quantize + 4 int8 evaluations (adversarial = transfer there) = 8;
    // each of 7 pairs: prune, fine-tune, evaluate, attack, 3 evaluations, quantize, 4 int8 evaluations = 12.
    expect(steps).toHaveLength(8 + 7 * 12);
    expect(new Set(steps.map((s) => s.id)).size).toBe(steps.length);
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

  it("validation names the field", () => {
    const bad = spec("quick");
    bad.strategies = [create(StrategyScopeSchema, { strategy: PruningStrategy.RANDOM, scope: PruningScope.LAYER })];
    expect(() => validateSpec(bad)).toThrow(/spec\.strategies\[0\]\.scope/);
  });
});
