import { CLAIM_THRESHOLDS, evaluateClaims, formatEvidence, type Finding, type MaskDisjointness } from "./claims.js";
import { accuracyFigure, curvesFigure, histogramFigure, overlapFigure, renderPng, renderSvg, type Figure, type HistogramSeries, type OverlapCell, type TrainingCurve } from "./figures.js";
import { renderReportHtml, type Table } from "./html.js";
import { summarize, type ReportRow } from "./rows.js";
import { resultRecords, SUMMARY_COLUMNS, summaryCells, toCsv, toMarkdown } from "./tables.js";

export interface ReportData {
  title: string;
  /** Lines under the title, such as the experiment id and state. */
  facts: ReadonlyArray<readonly [string, string]>;
  spec: unknown;
  rows: readonly ReportRow[];
  /** Fig. 1 series per model (absent where the spec has no GAP or gradient pruning). */
  histograms?: ReadonlyMap<string, readonly HistogramSeries[]>;
  /** Mask overlap per model. */
  overlaps?: ReadonlyMap<string, readonly OverlapCell[]>;
  /** Training and fine-tuning curves per model (trial 0). */
  curves?: ReadonlyMap<string, readonly TrainingCurve[]>;
  /** Classes of the data (chance accuracy is 1 / classes, for the claims). */
  numClasses: number;
  /** GAP (global) against gradient (global) masks, per trial, for claim C7. */
  disjointness?: readonly MaskDisjointness[];
  software: Table;
  timings: Table;
  timingsNote?: string;
}

export interface ReportFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

export const REPORT_PAGE = "report.html";
const text = (s: string) => new TextEncoder().encode(s);

/** The figures of a report, in page order. */
export function reportFigures(data: ReportData, summaries = summarize(data.rows)): Figure[] {
  const models = [...new Set(summaries.map((s) => s.model))];
  const figures: Figure[] = [];
  for (const model of models) {
    figures.push(accuracyFigure(model, summaries, ["clean", "adversarial", "transfer"], `fig2-${model}`, `Fig. 2: ${model}`));
    if (summaries.some((s) => s.model === model && s.ratio !== 1 && s.accuracy.heldOutTransfer)) {
      figures.push(accuracyFigure(model, summaries, ["heldOutTransfer"], `held-out-transfer-${model}`, `Held-out transfer: ${model}`));
    }
  }
  for (const [model, series] of data.histograms ?? []) if (series.length > 0) figures.push(histogramFigure(model, series));
  for (const [model, cells] of data.overlaps ?? []) if (cells.length > 0) figures.push(overlapFigure(model, cells));
  for (const [model, curves] of data.curves ?? []) if (curves.length > 0) figures.push(curvesFigure(model, curves));
  return figures;
}

const FINDINGS_NOTE =
  `Each claim is tested on this experiment's numbers with the thresholds in CLAIM_THRESHOLDS (libs/reports/src/claims.ts): ` +
  `${JSON.stringify(CLAIM_THRESHOLDS)}. Differences are in accuracy points; "paired" differences are taken within one trial, ` +
  `then averaged; t is the mean over its standard error. ✓ and ✗ mark the evidence that passes or fails its threshold.`;

/** The findings as Markdown: one section per claim and model. */
export function findingsMarkdown(findings: readonly Finding[]): string {
  const blocks = findings.map(
    (f) =>
      `### ${f.claim} (${f.model}): ${f.verdict}\n\n${f.statement}\n\nTest: ${f.test}. Verdict: **${f.verdict}**, ${f.reason}.\n\n` +
      f.evidence.map((e) => `- ${formatEvidence(e)}`).join("\n"),
  );
  return `## Findings\n\n${FINDINGS_NOTE}\n\n${blocks.join("\n\n")}\n`;
}

/**
 * Every file of a report: the results as CSV and JSON (one record per trial
 * with its cell's mean and std), the findings as JSON, a Markdown summary
 * (findings, then results), each figure as SVG and PNG, and the
 * self-contained HTML page, which comes first.
 */
export async function buildReport(data: ReportData): Promise<ReportFile[]> {
  const summaries = summarize(data.rows);
  const records = resultRecords(data.rows, summaries);
  const findings = evaluateClaims({ rows: data.rows, numClasses: data.numClasses, disjointness: data.disjointness });
  const summary = `# ${data.title}\n\n${findingsMarkdown(findings)}\n## Results\n\nAccuracies in percent, mean ± standard deviation over trials.\n\n${toMarkdown(summaries)}`;
  const files: ReportFile[] = [
    { name: "results.csv", contentType: "text/csv", bytes: text(toCsv(records)) },
    { name: "results.json", contentType: "application/json", bytes: text(JSON.stringify(records, null, 2) + "\n") },
    { name: "findings.json", contentType: "application/json", bytes: text(JSON.stringify({ thresholds: CLAIM_THRESHOLDS, findings }, null, 2) + "\n") },
    { name: "summary.md", contentType: "text/markdown", bytes: text(summary) },
  ];
  const rendered = [];
  const pngs: Array<Promise<ReportFile>> = [];
  for (const figure of reportFigures(data, summaries)) {
    const svg = await renderSvg(figure.spec);
    rendered.push({ figure, svg });
    files.push({ name: `${figure.name}.svg`, contentType: "image/svg+xml", bytes: text(svg) });
    const png = renderPng(svg).then((bytes): ReportFile => ({ name: `${figure.name}.png`, contentType: "image/png", bytes }));
    png.catch(() => {}); // its error surfaces below, unless a later figure fails first
    pngs.push(png);
  }
  files.push(...(await Promise.all(pngs)));
  const html = renderReportHtml({
    title: data.title,
    facts: data.facts,
    findings,
    findingsNote: FINDINGS_NOTE,
    figures: rendered,
    tables: [
      { heading: "Results", note: "Accuracies in percent, mean ± standard deviation over trials (sample standard deviation).", table: { columns: SUMMARY_COLUMNS, rows: summaryCells(summaries), numericFrom: 2 } },
      { heading: "Software and backend", table: data.software },
      { heading: "Timings", note: data.timingsNote, table: data.timings },
    ],
    spec: data.spec,
    files: [REPORT_PAGE, ...files.map((f) => f.name)],
  });
  return [{ name: REPORT_PAGE, contentType: "text/html", bytes: text(html) }, ...files];
}
