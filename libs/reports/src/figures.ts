import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { renderAsync } from "@resvg/resvg-js";
import { METRIC_TITLES, type Metric, type SummaryRow } from "./rows.js";

/** DejaVu ships with Debian; the PNG renderer falls back to any system font. */
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const CONFIG = { font: FONT, view: { stroke: "#ddd" }, legend: { orient: "right" } } as const;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

export interface Figure {
  /** File name without extension, such as "fig2-resnet20". */
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

/** Field titles double as the accessible labels of the SVG marks, which tests read. */
export const STRATEGY_FIELD = "strategy";
const precisionOf = (quantized: boolean) => (quantized ? "int8" : "float32");
const pct = (x: number) => Math.round(x * 10000) / 100;

/**
 * The paper's Fig. 2 for one model: each metric against the compression ratio
 * on a log2 axis, one line per strategy, error bars of one standard deviation
 * over the trials, int8 dashed; the unpruned model is the grey rule.
 */
export function accuracyFigure(model: string, summaries: readonly SummaryRow[], metrics: readonly Metric[], name: string, title: string): Figure {
  const rows = summaries.filter((s) => s.model === model);
  const values = rows.flatMap((s) =>
    metrics.flatMap((metric) => {
      const stats = s.accuracy[metric];
      if (!stats) return [];
      return [
        {
          kind: s.ratio === 1 ? "unpruned" : "pruned",
          metric: METRIC_TITLES[metric],
          ratio: s.ratio,
          [STRATEGY_FIELD]: s.series,
          precision: precisionOf(s.quantized),
          mean: pct(stats.mean),
          low: pct(stats.mean - stats.std),
          high: pct(stats.mean + stats.std),
          trials: stats.n,
        },
      ];
    }),
  );
  const ratios = [...new Set(rows.filter((s) => s.ratio !== 1).map((s) => s.ratio))].sort((a, b) => a - b);
  const x = { field: "ratio", type: "quantitative", title: "compression ratio (log2 axis)", scale: { type: "log", base: 2 }, axis: { values: ratios, format: "d" } } as const;
  const y = { field: "mean", type: "quantitative", title: "accuracy (%)", scale: { domain: [0, 100] } } as const;
  const strategy = { field: STRATEGY_FIELD, type: "nominal", title: STRATEGY_FIELD } as const;
  const precision = { field: "precision", type: "nominal", title: "precision", sort: ["float32", "int8"] } as const;
  const spec = {
    $schema: SCHEMA,
    config: CONFIG,
    title: { text: title, anchor: "start" },
    data: { values },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: metrics.map((m) => METRIC_TITLES[m]) } },
    spec: {
      width: 240,
      height: 200,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'unpruned'" }],
          mark: { type: "rule", color: "#888" },
          encoding: { y, strokeDash: precision },
        },
        {
          transform: [{ filter: "datum.kind === 'pruned'" }],
          mark: { type: "errorbar", ticks: true },
          encoding: { x, y: { field: "low", type: "quantitative", title: "accuracy (%)" }, y2: { field: "high" }, color: strategy },
        },
        {
          transform: [{ filter: "datum.kind === 'pruned'" }],
          mark: { type: "line", point: true },
          encoding: { x, y, color: strategy, strokeDash: precision, shape: { ...precision, legend: null } }, // one precision legend
        },
      ],
    },
  } as unknown as TopLevelSpec;
  return { name, title, caption: captionOf(rows, metrics), spec };
}

function captionOf(rows: readonly SummaryRow[], metrics: readonly Metric[]): string {
  const trials = Math.max(0, ...rows.map((s) => s.trials));
  return `${metrics.map((m) => METRIC_TITLES[m]).join(", ")} by compression ratio; mean over ${trials} trial${trials === 1 ? "" : "s"}, error bars one standard deviation; dashed lines and square points are int8; grey rules are the unpruned model.`;
}

export interface HistogramSeries {
  /** Compression ratio whose masks select the kept weights; the unpruned model is repeated at each. */
  ratio: number;
  /** "unpruned" or a strategy's series name. */
  series: string;
  edges: number[];
  counts: number[];
}

/**
 * The paper's Fig. 1: the distribution of the weight values each strategy
 * keeps (before fine-tuning), against the unpruned model, one panel per ratio.
 * Densities, so that 1/p of the weights compare with all of them.
 */
export function histogramFigure(model: string, series: readonly HistogramSeries[]): Figure {
  const values = series.flatMap((s) => {
    const total = s.counts.reduce((a, b) => a + b, 0);
    return s.counts.map((count, i) => {
      const width = s.edges[i + 1]! - s.edges[i]!;
      return { ratio: `p = ${s.ratio}`, [STRATEGY_FIELD]: s.series, weight: (s.edges[i]! + s.edges[i + 1]!) / 2, density: total > 0 ? count / total / width : 0 };
    });
  });
  const spec = {
    $schema: SCHEMA,
    config: CONFIG,
    title: { text: `${model}: kept weight values before fine-tuning`, anchor: "start" },
    data: { values },
    facet: { column: { field: "ratio", type: "nominal", title: null, sort: [...new Set(series.map((s) => s.ratio))].sort((a, b) => a - b).map((r) => `p = ${r}`) } },
    spec: {
      width: 300,
      height: 200,
      mark: { type: "line", interpolate: "step" },
      encoding: {
        x: { field: "weight", type: "quantitative", title: "weight value" },
        y: { field: "density", type: "quantitative", title: "density" },
        color: { field: STRATEGY_FIELD, type: "nominal", title: STRATEGY_FIELD },
      },
    },
  } as unknown as TopLevelSpec;
  return {
    name: `fig1-${model}`,
    title: `Fig. 1: ${model} kept weight values`,
    caption: "Distribution of the prunable weights each strategy keeps, taken from the unpruned model before fine-tuning (trial 0), against all weights of the unpruned model.",
    spec,
  };
}

/** One training run's per-epoch metrics: the base model's training, or one fine-tuning. */
export interface TrainingCurve {
  /** "base model" or a strategy's series name, such as "gap (global)". */
  series: string;
  /** The compression ratio being fine-tuned at; absent for the base model. */
  ratio?: number;
  epochs: ReadonlyArray<{ epoch: number; loss: number; accuracy: number; learningRate: number }>;
}

/**
 * Training curves of one model (trial 0): loss and training accuracy by
 * epoch, one panel per run kind (the base model, then each strategy), one
 * line per ratio.
 */
export function curvesFigure(model: string, curves: readonly TrainingCurve[]): Figure {
  const values = curves.flatMap((c) =>
    c.epochs.flatMap((e) => [
      { series: c.series, ratio: c.ratio === undefined ? "base" : `p = ${c.ratio}`, order: c.ratio ?? 0, epoch: e.epoch, metric: "training loss", value: e.loss, lr: e.learningRate },
      { series: c.series, ratio: c.ratio === undefined ? "base" : `p = ${c.ratio}`, order: c.ratio ?? 0, epoch: e.epoch, metric: "training accuracy (%)", value: pct(e.accuracy), lr: e.learningRate },
    ]),
  );
  const ratios = [...new Set(curves.map((c) => c.ratio))].sort((a, b) => (a ?? 0) - (b ?? 0)).map((r) => (r === undefined ? "base" : `p = ${r}`));
  const spec = {
    $schema: SCHEMA,
    config: CONFIG,
    title: { text: `${model}: training curves`, anchor: "start" },
    data: { values },
    facet: {
      row: { field: "metric", type: "nominal", title: null, sort: ["training loss", "training accuracy (%)"] },
      column: { field: "series", type: "nominal", title: null, sort: [...new Set(curves.map((c) => c.series))] },
    },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 150,
      height: 120,
      mark: { type: "line", point: { size: 12 } },
      encoding: {
        x: { field: "epoch", type: "quantitative", title: "epoch", axis: { tickMinStep: 1 } },
        y: { field: "value", type: "quantitative", title: null },
        color: { field: "ratio", type: "nominal", title: "run", sort: ratios },
        tooltip: [{ field: "lr", type: "quantitative", title: "learning rate" }],
      },
    },
  } as unknown as TopLevelSpec;
  return {
    name: `curves-${model}`,
    title: `Training curves: ${model}`,
    caption: "Mean training loss and accuracy (on augmented inputs) per epoch, trial 0: the base model's training where this experiment trained it, and each strategy's fine-tuning at each ratio.",
    spec,
  };
}

export interface OverlapCell {
  ratio: number;
  a: string;
  b: string;
  /** |kept by a ∩ kept by b| / |kept by a ∪ kept by b|. */
  jaccard: number;
}

/** Our addition: how much the strategies' masks agree, as Jaccard indices, one panel per ratio. */
export function overlapFigure(model: string, cells: readonly OverlapCell[]): Figure {
  const values = cells.map((c) => ({ ...c, ratio: `p = ${c.ratio}`, label: c.jaccard.toFixed(2) }));
  const spec = {
    $schema: SCHEMA,
    config: CONFIG,
    title: { text: `${model}: mask overlap between strategies`, anchor: "start" },
    data: { values },
    facet: { column: { field: "ratio", type: "nominal", title: null, sort: [...new Set(cells.map((c) => c.ratio))].sort((a, b) => a - b).map((r) => `p = ${r}`) } },
    spec: {
      encoding: {
        x: { field: "a", type: "nominal", title: null },
        y: { field: "b", type: "nominal", title: null },
      },
      layer: [
        { mark: "rect", encoding: { color: { field: "jaccard", type: "quantitative", title: "Jaccard", scale: { domain: [0, 1], scheme: "blues" } } } },
        { mark: { type: "text", fontSize: 10 }, encoding: { text: { field: "label" }, color: { condition: { test: "datum.jaccard > 0.6", value: "white" }, value: "black" } } },
      ],
    },
  } as unknown as TopLevelSpec;
  return {
    name: `overlap-${model}`,
    title: `Mask overlap: ${model}`,
    caption: "Jaccard index of the weights kept by each pair of strategies at the same ratio (trial 0): 1 means the same mask.",
    spec,
  };
}

/** Renders a Vega-Lite spec to SVG in Node, without a browser. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Errors still throw; warnings such as the optimizer's "maximum optimization runs" are noise here.
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(compile(spec, { logger }).spec), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG at twice its size, on libuv's thread pool: a report's figures
 * rasterise side by side while the next one renders to SVG (the quick preset's five:
 * 470-600 ms one after another on the main thread, 240-280 ms all at once).
 */
export async function renderPng(svg: string): Promise<Uint8Array> {
  const image = await renderAsync(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }, fitTo: { mode: "zoom", value: 2 } });
  return image.asPng();
}
