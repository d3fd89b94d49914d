// nx run bench:grid -- [--spec paper] [--compare ../../bench-results/compare.json] [--before DIR]
// Projects the wall time of a whole experiment from measured throughputs: the coordinator's
// own step graph for the spec (buildGraph), each step priced by the images it pushes through
// one workload of bench:ml / bench:compare, steps one after another on one machine like the
// one measured. Writes bench-results/grid-<spec>.{json,md}.
//
// Sides: "ours" and "PyTorch" from compare.json at each workload's best repeat, and both again
// at their median repeat (all rounds pooled); "before" from --before DIR, holding bench:ml
// results (ml-<arch>*.json), e.g. measured with GAP_NATIVE=0.
//
// Prices (images per step, at the workload's measured img/s):
//   train     epochs x training images, at the training-step rate
//   attack    source images, at the PGD-10 rate (scaled by steps / 10)
//   evaluate  dataset or adversarial-set images, at the evaluation rate (int8 models too)
//   quantize  calibration images, at the evaluation rate
//   prune     gap and gradient: scoring inputs at the GAP-scoring rate (one gradient per
//             input); magnitude and random: free. Two known errors, in opposite directions:
//             eq. (3)'s per-example gradients run one input per batch, several times the
//             batched cost priced here; and every prune step is priced, while the pruning
//             service scores once per model and strategy (every ratio, and both scopes
//             where the scores do not depend on the scope)
// Not priced: process start, data loading, store I/O, the coordinator's concurrency, and the
// difference between batch 128 (measured) and the spec's batch sizes.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadSpec } from "@gap/coordinator";
import { KINDS, project, ratesOf, stepWork, typicalRatesOf, type MlResult, type Rates } from "./projection.js";

const { values: args } = parseArgs({
  options: {
    spec: { type: "string", default: "paper" },
    compare: { type: "string", default: "../../bench-results/compare.json" },
    before: { type: "string" },
  },
});

// ---- sides ---------------------------------------------------------------------------

const sides: Array<{ name: string; source: string; rates: Map<string, Rates> }> = [];
const comparePath = resolve(import.meta.dirname, "..", args.compare!);
if (existsSync(comparePath)) {
  const compare = JSON.parse(readFileSync(comparePath, "utf8")) as { archs: Array<{ architecture: string; ours: { result: MlResult | null }; pytorch: { result: MlResult | null } | null }> };
  const pickers = [
    ["ours", (a: (typeof compare.archs)[number]) => a.ours.result],
    ["PyTorch", (a: (typeof compare.archs)[number]) => a.pytorch?.result ?? null],
  ] as const;
  // Each side at its best repeats, then at its median ones: the best repeat is the fastest spell of the VM.
  for (const [suffix, price] of [["", ratesOf], [", median repeat", typicalRatesOf]] as const) {
    for (const [name, pick] of pickers) {
      const rates = new Map<string, Rates>();
      for (const a of compare.archs) {
        const r = pick(a);
        const priced = r && price(r);
        if (priced) rates.set(a.architecture, priced);
      }
      sides.push({ name: `${name}${suffix}`, source: comparePath, rates });
    }
  }
}
if (args.before) {
  const dir = resolve(args.before);
  const rates = new Map<string, Rates>();
  for (const file of readdirSync(dir).filter((f) => f.startsWith("ml-") && f.endsWith(".json"))) {
    const r = JSON.parse(readFileSync(join(dir, file), "utf8")) as MlResult;
    rates.set(r.architecture, ratesOf(r));
  }
  sides.push({ name: "before", source: dir, rates });
}
if (sides.length === 0) throw new Error(`nothing to project from: no ${comparePath} and no --before`);

const spec = loadSpec(args.spec!);
const work = stepWork(spec);
const architectures = [...new Set(work.map((w) => w.architecture))];
const projections = sides.map((s) => ({ name: s.name, source: s.source, seconds: project(work, s.rates) }));

const duration = (s: number) =>
  s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : s < 259_200 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86_400).toFixed(1)} d`;
const lines = [`# Projected wall time of the "${spec.name}" experiment`, ""];
lines.push(
  `${work.length} steps (${KINDS.map((k) => `${work.filter((w) => w.kind === k).length} ${k}`).join(", ")}), run one after another on one machine like the one measured,`,
  `each priced at the throughput measured for its workload: its best repeat, or in the median-repeat columns its median one (tools/bench/src/grid.ts says how).`,
  "",
);
lines.push(`| architecture | ${projections.map((p) => p.name).join(" | ")} |`, `|---|${projections.map(() => "---:").join("|")}|`);
const total = (p: (typeof projections)[number], arch?: string) =>
  p.seconds ? [...p.seconds.entries()].filter(([a]) => !arch || a === arch).reduce((s, [, row]) => s + KINDS.reduce((t, k) => t + row[k], 0), 0) : NaN;
for (const arch of [...architectures, undefined]) {
  lines.push(`| ${arch ?? "**all**"} | ${projections.map((p) => (p.seconds ? duration(total(p, arch)) : "–")).join(" | ")} |`);
}
lines.push("", "By step kind (all architectures):", "");
lines.push(`| step kind | steps | ${projections.map((p) => p.name).join(" | ")} |`, `|---|---:|${projections.map(() => "---:").join("|")}|`);
for (const kind of KINDS) {
  const cells = projections.map((p) => (p.seconds ? duration([...p.seconds.values()].reduce((s, row) => s + row[kind], 0)) : "–"));
  lines.push(`| ${kind} | ${work.filter((w) => w.kind === kind).length} | ${cells.join(" | ")} |`);
}
lines.push("", ...projections.map((p) => `- ${p.name}: ${p.source}${p.seconds ? "" : " (lacks an architecture of the spec)"}`));

const outDir = resolve(import.meta.dirname, "../../../bench-results");
mkdirSync(outDir, { recursive: true });
const json = {
  spec: spec.name,
  steps: work.length,
  sides: projections.map((p) => ({
    name: p.name,
    source: p.source,
    totalSeconds: total(p),
    seconds: p.seconds ? Object.fromEntries(p.seconds) : null,
  })),
};
writeFileSync(join(outDir, `grid-${spec.name}.json`), JSON.stringify(json, null, 2) + "\n");
writeFileSync(join(outDir, `grid-${spec.name}.md`), lines.join("\n") + "\n");
console.log(lines.join("\n"));
