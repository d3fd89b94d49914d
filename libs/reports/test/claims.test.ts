import { describe, expect, it } from "vitest";
import { CLAIM_THRESHOLDS, evaluateClaims, findingsMarkdown, formatEvidence, type ClaimId, type MaskDisjointness, type ReportRow } from "../src/index.js";

type Accuracies = { clean?: number; adversarial?: number; transfer?: number; heldOut?: number };
const TOTAL = 1000;
const count = (accuracy: number | undefined) => (accuracy === undefined ? undefined : { correct: Math.round(accuracy * TOTAL), total: TOTAL });

/** A hand-made row: accuracies as fractions, counted out of 1,000. */
function row(series: string, ratio: number, trial: number, a: Accuracies, quantized = false): ReportRow {
  const [strategy, scope] = series === "unpruned" ? ["unpruned", ""] : series.replace(")", "").split(" (");
  const accuracy: ReportRow["accuracy"] = {};
  for (const [metric, value] of [["clean", a.clean], ["adversarial", a.adversarial], ["transfer", a.transfer], ["heldOutTransfer", a.heldOut]] as const) {
    const c = count(value);
    if (c) accuracy[metric] = c;
  }
  return { model: "resnet20", strategy: strategy!, scope: scope!, ratio, trial, quantized, accuracy, nonzeroParameters: 1000, sizeBytes: 4000 };
}

const SERIES = ["random (global)", "magnitude (global)", "magnitude (layer)", "gradient (global)", "gradient (layer)", "gap (global)", "gap (layer)"];
const RATIOS = [2, 8, 32];

/**
 * A grid in which every claim holds: GAP (global) keeps transfer close to clean,
 * conventional methods' transfer is low at p = 2 and peaks at p = 8, layerwise
 * GAP learns at p = 2 only, int8 equals float, held-out matches transfer.
 */
function holdingGrid(trials = 3, change: (r: ReportRow) => ReportRow = (r) => r): ReportRow[] {
  const rows: ReportRow[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const jitter = (trial - 1) * 0.005;
    for (const quantized of [false, true]) {
      rows.push(row("unpruned", 1, trial, { clean: 0.78 + jitter, transfer: 0, heldOut: 0.01 }, quantized));
      for (const series of SERIES) {
        for (const ratio of RATIOS) {
          const a: Accuracies =
            series === "gap (global)"
              ? { clean: 0.7 + jitter, transfer: ({ 2: 0.66, 8: 0.68, 32: 0.65 } as Record<number, number>)[ratio]! + jitter, heldOut: 0.64 + jitter }
              : series === "gap (layer)"
                ? { clean: ratio === 2 ? 0.5 + jitter : 0.1, transfer: ratio === 2 ? 0.4 : 0.1, heldOut: 0.1 }
                : { clean: 0.75 + jitter, transfer: ({ 2: 0.1, 8: 0.3, 32: 0.2 } as Record<number, number>)[ratio]! + jitter, heldOut: 0.1 };
          rows.push(change(row(series, ratio, trial, a, quantized)));
        }
      }
    }
  }
  return rows;
}

const disjointness = (share: number, trials = 3): MaskDisjointness[] =>
  RATIOS.flatMap((ratio) => Array.from({ length: trials }, (_, trial) => ({ model: "resnet20", ratio, trial, keptByGap: 1000, keptByBoth: Math.round(1000 * (1 - share)) })));

const verdicts = (rows: ReportRow[], shares = disjointness(0.3)) =>
  Object.fromEntries(evaluateClaims({ rows, numClasses: 10, disjointness: shares }).map((f) => [f.claim, f.verdict])) as Record<ClaimId, string>;

describe("the claims evaluator on hand-made rows", () => {
  it("finds every claim holding on a grid built to satisfy them", () => {
    expect(verdicts(holdingGrid())).toEqual({ C1: "holds", C2: "holds", C3: "holds", C4: "holds", C5: "holds", C6: "holds", C7: "holds" });
  });

  it("says 'not enough data' for one trial, and for claims whose cells are missing", () => {
    expect(new Set(Object.values(verdicts(holdingGrid(1), disjointness(0.3, 1))))).toEqual(new Set(["not enough data"]));
    const noHeldOut = holdingGrid(3, (r) => ({ ...r, accuracy: { ...r.accuracy, heldOutTransfer: undefined } }));
    expect(verdicts(noHeldOut).C6).toBe("not enough data");
    expect(verdicts(holdingGrid(), []).C7).toBe("not enough data");
    const noLayerGap = holdingGrid().filter((r) => !(r.strategy === "gap" && r.scope === "layer"));
    expect(verdicts(noLayerGap).C4).toBe("not enough data");
  });

  it("C1 fails when global GAP's transfer accuracy falls far below its clean accuracy at one ratio", () => {
    const rows = holdingGrid(3, (r) => (r.strategy === "gap" && r.scope === "global" && r.ratio === 32 ? { ...r, accuracy: { ...r.accuracy, transfer: count(0.45) } } : r));
    const c1 = evaluateClaims({ rows, numClasses: 10 }).find((f) => f.claim === "C1")!;
    expect(c1.verdict).toBe("does not hold");
    expect(c1.reason).toContain("p=32");
    const at32 = c1.evidence.find((e) => e.label.startsWith("p=32"))!;
    expect(at32.stats!.mean).toBeCloseTo(0.7 - 0.45, 6); // paired: the same jitter cancels per trial
    expect(at32.stats!.std).toBeCloseTo(0.005, 6);
    expect(at32.passes).toBe(false);
    // Right at the threshold still holds.
    const edge = holdingGrid(3, (r) => (r.strategy === "gap" && r.scope === "global" ? { ...r, accuracy: { ...r.accuracy, transfer: count(0.6), clean: count(0.7) } } : r));
    expect(verdicts(edge).C1).toBe("holds");
  });

  it("C2 fails when one conventional method resists the transferred inputs at p = 2", () => {
    const rows = holdingGrid(3, (r) => (r.strategy === "random" && r.ratio === 2 ? { ...r, accuracy: { ...r.accuracy, transfer: count(0.6) } } : r));
    const c2 = evaluateClaims({ rows, numClasses: 10 }).find((f) => f.claim === "C2")!;
    expect(c2.verdict).toBe("does not hold");
    expect(c2.reason).toContain("random (global), p=2");
    expect(c2.evidence.every((e) => !e.label.includes("p=8"))).toBe(true); // only ratios <= lowRatioMax
  });

  it("C3 counts the pairs whose transfer curve peaks inside, against the 'almost all' share", () => {
    const monotone = (names: string[]) => (r: ReportRow) =>
      names.includes(`${r.strategy} (${r.scope})`) ? { ...r, accuracy: { ...r.accuracy, transfer: count(r.ratio / 100) } } : r;
    // Six pairs peak inside (layerwise GAP falls): 6/7 >= 3/4; one more that rises throughout leaves 5/7 < 3/4.
    expect(verdicts(holdingGrid()).C3).toBe("holds");
    const c3 = evaluateClaims({ rows: holdingGrid(), numClasses: 10 }).find((f) => f.claim === "C3")!;
    expect(c3.reason).toBe(`the pattern shows in 6 of 7 pairs`);
    expect(verdicts(holdingGrid(3, monotone(["magnitude (global)"]))).C3).toBe("does not hold");
  });

  it("C4 fails when layerwise GAP learns at a larger ratio, or not at p = 2", () => {
    const learnsAt8 = holdingGrid(3, (r) => (r.strategy === "gap" && r.scope === "layer" && r.ratio === 8 ? { ...r, accuracy: { ...r.accuracy, clean: count(0.4) } } : r));
    expect(verdicts(learnsAt8).C4).toBe("does not hold");
    const neverLearns = holdingGrid(3, (r) => (r.strategy === "gap" && r.scope === "layer" ? { ...r, accuracy: { ...r.accuracy, clean: count(0.15) } } : r));
    expect(verdicts(neverLearns).C4).toBe("does not hold");
    expect(0.1 + CLAIM_THRESHOLDS.learnMargin).toBeGreaterThan(0.15); // 15% is "not learned" for 10 classes
  });

  it("C5 fails when int8 moves one cell's clean accuracy by more than the negligible change", () => {
    const rows = holdingGrid(3, (r) => (r.quantized && r.strategy === "magnitude" && r.scope === "layer" && r.ratio === 32 ? { ...r, accuracy: { ...r.accuracy, clean: count(0.7) } } : r));
    const c5 = evaluateClaims({ rows, numClasses: 10 }).find((f) => f.claim === "C5")!;
    expect(c5.verdict).toBe("does not hold");
    expect(formatEvidence(c5.evidence[1]!)).toContain("1 of 22; largest mean change -5.0 points (magnitude (layer) p=32)");
  });

  it("C6 fails when GAP's held-out transfer accuracy is far below its clean accuracy", () => {
    const rows = holdingGrid(3, (r) => (r.strategy === "gap" && r.scope === "global" ? { ...r, accuracy: { ...r.accuracy, heldOutTransfer: count(0.2) } } : r));
    expect(verdicts(rows).C6).toBe("does not hold");
    expect(verdicts(rows).C1).toBe("holds");
  });

  it("C7 holds for partial overlap only", () => {
    expect(verdicts(holdingGrid(), disjointness(0)).C7).toBe("does not hold");
    expect(verdicts(holdingGrid(), disjointness(1)).C7).toBe("does not hold");
    expect(verdicts(holdingGrid(), disjointness(0.5)).C7).toBe("holds");
  });

  it("prints each claim's test, evidence and verdict in Markdown", () => {
    const md = findingsMarkdown(evaluateClaims({ rows: holdingGrid(), numClasses: 10, disjointness: disjointness(0.3) }));
    expect(md).toContain("### C1 (resnet20): holds");
    expect(md).toContain("at most 10.0 points at every ratio");
    expect(md).toMatch(/- p=2: clean − transfer: 4\.0 ± 0\.0 points \(n = 3\) ✓/);
    expect(md).toContain("- gap (global): transfer accuracy by ratio: p=2: 66.0, p=8: 68.0, p=32: 65.0; peak at p=8 ✓");
    expect(md).toContain(JSON.stringify(CLAIM_THRESHOLDS));
  });
});
