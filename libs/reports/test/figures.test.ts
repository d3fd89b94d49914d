import { describe, expect, it } from "vitest";
import { accuracyFigure, histogramFigure, overlapFigure, renderPng, renderSvg, summarize } from "../src/index.js";
import { fixtureData, fixtureRows, RATIOS, STRATEGIES } from "./fixture.js";

/** The strategy of every line in an SVG, read from the marks' accessible labels. */
function lineStrategies(svg: string): string[] {
  const labels = [...svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="line mark"/g)].map((m) => m[1]!);
  return labels.map((label) => /strategy: ([^;]*)/.exec(label.replace(/&#39;/g, "'"))?.[1] ?? "?");
}

describe("figures", () => {
  const summaries = summarize(fixtureRows());
  const names = STRATEGIES.map((s) => `${s.strategy} (${s.scope})`).sort();

  it("Fig. 2 has one line per strategy and precision in each of its three panels", async () => {
    const svg = await renderSvg(accuracyFigure("resnet20", summaries, ["clean", "adversarial", "transfer"], "fig2", "Fig. 2").spec);
    expect(svg.startsWith("<svg")).toBe(true);
    const strategies = lineStrategies(svg);
    expect([...new Set(strategies)].sort()).toEqual(names);
    expect(strategies).toHaveLength(3 * STRATEGIES.length * 2); // panels × strategies × {float32, int8}
    for (const panel of ["clean accuracy", "adversarial accuracy", "transfer accuracy"]) expect(svg).toContain(panel);
    expect(svg).toContain("compression ratio (log2 axis)");
    for (const ratio of RATIOS) expect(svg).toMatch(new RegExp(`>${ratio}</text>`));
  });

  it("the held-out transfer figure has one line per strategy and precision", async () => {
    const svg = await renderSvg(accuracyFigure("resnet20", summaries, ["heldOutTransfer"], "held-out", "Held-out").spec);
    const strategies = lineStrategies(svg);
    expect([...new Set(strategies)].sort()).toEqual(names);
    expect(strategies).toHaveLength(STRATEGIES.length * 2);
  });

  it("Fig. 1 has the unpruned model, GAP and gradient pruning in each ratio's panel", async () => {
    const data = fixtureData();
    const svg = await renderSvg(histogramFigure("resnet20", data.histograms!.get("resnet20")!).spec);
    const strategies = lineStrategies(svg);
    expect([...new Set(strategies)].sort()).toEqual(["gap (global)", "gradient (global)", "unpruned"]);
    expect(strategies).toHaveLength(2 * 3);
    expect(svg).toContain("p = 2");
    expect(svg).toContain("p = 32");
  });

  it("the overlap figure has a cell per pair of strategies and ratio", async () => {
    const data = fixtureData();
    const svg = await renderSvg(overlapFigure("resnet20", data.overlaps!.get("resnet20")!).spec);
    expect(svg.match(/aria-roledescription="rect mark"/g)).toHaveLength(RATIOS.length * STRATEGIES.length ** 2);
  });

  it("PNGs are real PNGs at twice the SVG size", async () => {
    const svg = await renderSvg(accuracyFigure("resnet20", summaries, ["clean"], "f", "F").spec);
    const png = await renderPng(svg);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const view = new DataView(png.buffer, png.byteOffset);
    const svgWidth = Number(/width="(\d+)"/.exec(svg)![1]);
    expect(view.getUint32(16)).toBe(2 * svgWidth); // IHDR width
  });
});
