import { formatEvidence, type Finding } from "./claims.js";
import type { Figure } from "./figures.js";

export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export interface Table {
  columns: readonly string[];
  rows: readonly (readonly string[])[];
  /** Columns from this index on are numbers, right-aligned. */
  numericFrom?: number;
}

export function htmlTable({ columns, rows, numericFrom = columns.length }: Table): string {
  const cell = (tag: "th" | "td", text: string, i: number) => `<${tag}${i >= numericFrom ? ' class="num"' : ""}>${escapeHtml(text)}</${tag}>`;
  return [
    "<table>",
    `<thead><tr>${columns.map((c, i) => cell("th", c, i)).join("")}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("\n")}</tbody>`,
    "</table>",
  ].join("\n");
}

export interface ReportPage {
  title: string;
  /** Lines under the title: experiment id, state, date. */
  facts: ReadonlyArray<readonly [string, string]>;
  figures: ReadonlyArray<{ figure: Figure; svg: string }>;
  /** The claims tested, with their verdicts (a section of its own when given). */
  findings?: readonly Finding[];
  findingsNote?: string;
  /** Named tables, in order: the results summary, software, timings. */
  tables: ReadonlyArray<{ heading: string; note?: string; table: Table }>;
  /** The spec as JSON. */
  spec: unknown;
  /** Companion files next to the page (CSV, JSON, Markdown, SVG, PNG). */
  files: readonly string[];
}

const STYLE = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; } dt { font-weight: bold; }
figure { margin: 1.5rem 0; overflow-x: auto; } figcaption { color: #555; font-size: .9rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; } .num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f4f4f4; position: sticky; top: 0; }
pre { background: #f7f7f7; padding: 1rem; overflow-x: auto; font-size: .8rem; }
nav a { margin-right: 1rem; }
td ul { margin: 0; padding-left: 1.1rem; } .verdict.holds { background: #e9f6ec; } .verdict.does-not-hold { background: #fbeaea; } .verdict.not-enough-data { background: #f4f4f4; }
`;

/** One row per claim and model: the statement, the test, the evidence as a list, the verdict. */
function findingsHtml(findings: readonly Finding[], note: string | undefined): string {
  const rows = findings.map(
    (f) =>
      `<tr><td>${f.claim}</td><td>${escapeHtml(f.model)}</td><td>${escapeHtml(f.statement)}<br><small>${escapeHtml(f.test)}</small></td>` +
      `<td><ul>${f.evidence.map((e) => `<li>${escapeHtml(formatEvidence(e))}</li>`).join("")}</ul></td>` +
      `<td class="verdict ${f.verdict.replace(/ /g, "-")}"><b>${escapeHtml(f.verdict)}</b><br><small>${escapeHtml(f.reason)}</small></td></tr>`,
  );
  return `${note ? `<p>${escapeHtml(note)}</p>\n` : ""}<table>\n<thead><tr><th>claim</th><th>model</th><th>statement and test</th><th>evidence (mean ± std over trials)</th><th>verdict</th></tr></thead>\n<tbody>${rows.join("\n")}</tbody>\n</table>`;
}

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** One self-contained page: inline SVG figures and CSS, no scripts, no external resources. */
export function renderReportHtml(page: ReportPage): string {
  const sections = [
    ...(page.findings ? [{ heading: "Findings", html: findingsHtml(page.findings, page.findingsNote) }] : []),
    { heading: "Figures", html: page.figures.map(({ figure, svg }) => `<figure id="${slug(figure.name)}">\n${svg}\n<figcaption><b>${escapeHtml(figure.title)}.</b> ${escapeHtml(figure.caption)}</figcaption>\n</figure>`).join("\n") },
    ...page.tables.map(({ heading, note, table }) => ({ heading, html: `${note ? `<p>${escapeHtml(note)}</p>\n` : ""}${htmlTable(table)}` })),
    { heading: "Spec", html: `<pre>${escapeHtml(JSON.stringify(page.spec, null, 2))}</pre>` },
    { heading: "Files", html: `<p>Next to this page in the store and the output directory:</p>\n<ul>${page.files.map((f) => `<li><code>${escapeHtml(f)}</code></li>`).join("")}</ul>` },
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<dl>${page.facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>
<nav>${sections.map((s) => `<a href="#${slug(s.heading)}">${escapeHtml(s.heading)}</a>`).join("")}</nav>
${sections.map((s) => `<section id="${slug(s.heading)}">\n<h2>${escapeHtml(s.heading)}</h2>\n${s.html}\n</section>`).join("\n")}
</body>
</html>
`;
}
