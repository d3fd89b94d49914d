import type { HistogramSeries, OverlapCell, ReportData, ReportRow } from "../src/index.js";

export const STRATEGIES = [
  { strategy: "gap", scope: "global" },
  { strategy: "gradient", scope: "global" },
  { strategy: "magnitude", scope: "layer" },
];
export const RATIOS = [2, 4, 32];
export const TRIALS = 3;

/** Deterministic counts that differ by trial, so means and stds are not trivial. */
const count = (seed: number, total: number) => ({ correct: (seed * 7919) % (total + 1), total });

export function fixtureRows(models = ["resnet20"]): ReportRow[] {
  const rows: ReportRow[] = [];
  let seed = 1;
  for (const model of models) {
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const quantized of [false, true]) {
        const cells = [{ strategy: "unpruned", scope: "", ratio: 1 }, ...STRATEGIES.flatMap((s) => RATIOS.map((ratio) => ({ ...s, ratio })))];
        for (const cell of cells) {
          rows.push({
            model,
            ...cell,
            trial,
            quantized,
            accuracy: {
              clean: count(seed++, 200),
              adversarial: count(seed++, 100),
              transfer: count(seed++, 100),
              heldOutTransfer: count(seed++, 50),
            },
            nonzeroParameters: Math.round(269722 / cell.ratio),
            sizeBytes: Math.round((269722 / cell.ratio) * (quantized ? 1 : 4)),
          });
        }
      }
    }
  }
  return rows;
}

export function fixtureData(rows = fixtureRows()): ReportData {
  const histograms: HistogramSeries[] = [2, 32].flatMap((ratio) =>
    ["unpruned", "gap (global)", "gradient (global)"].map((series, s) => ({
      ratio,
      series,
      edges: Array.from({ length: 11 }, (_, i) => -1 + i * 0.2),
      counts: Array.from({ length: 10 }, (_, i) => Math.round(100 * Math.exp(-((i - 4.5) ** 2) / (2 + s + ratio / 16)))),
    })),
  );
  const names = STRATEGIES.map((s) => `${s.strategy} (${s.scope})`);
  const overlaps: OverlapCell[] = RATIOS.flatMap((ratio) => names.flatMap((a, i) => names.map((b, j) => ({ ratio, a, b, jaccard: i === j ? 1 : 1 / (ratio + i + j) }))));
  return {
    title: "GAP Lab report: fixture <experiment> & co",
    facts: [["experiment", "fixture"], ["state", "succeeded"]],
    spec: { name: "fixture", compressionRatios: RATIOS },
    rows,
    histograms: new Map([["resnet20", histograms]]),
    overlaps: new Map([["resnet20", overlaps]]),
    numClasses: 10,
    software: { columns: ["service", "backend"], rows: [["training", "wasm (SIMD, 1 thread)"]] },
    timings: { columns: ["kind", "seconds"], rows: [["train", "12.5"]], numericFrom: 1 },
  };
}
