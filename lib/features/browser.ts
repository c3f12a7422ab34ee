/**
 * A feature browser over TopExamples: a table of each live feature's top examples, an interactive
 * Vega-Lite view (pick a feature from a drop-down, see its examples and activation histogram), and
 * a static, self-contained HTML page (tables + SVG histograms, no scripts, works offline).
 */
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic';
import { renderSvg, withSchema } from '../plots/render';
import { histogramSpec } from '../plots/specs';
import { Row, escapeHtml, tableHtml } from '../plots/table';
import { showTable } from '../notebook/table';
import { showPlot } from '../notebook/display';
import { FeatureExample, TopExamples } from './topExamples';

export interface BrowserTextOptions {
  /** token id -> string (default: the id) */
  decode?: (id: number) => string;
  /** [batch, pos] token ids, to show each example's sequence with the active token in brackets */
  tokens?: readonly (readonly number[])[];
}

function contextOf(ex: FeatureExample, o: BrowserTextOptions): string {
  const dec = o.decode ?? ((id: number) => String(id));
  if (!o.tokens) return '';
  return o.tokens[ex.sequence].map((id, p) => (p === ex.position ? `[${dec(id)}]` : dec(id))).join(' ');
}

/** Rows (feature, rank, sequence, position, token, activation, context) for every live feature, or one. */
export function featureExampleRows(top: TopExamples, o: BrowserTextOptions = {}, feature?: number): Row[] {
  const dec = o.decode ?? ((id: number) => String(id));
  const rows: Row[] = [];
  for (const f of feature === undefined ? top.live : [feature]) {
    for (const ex of top.examples.get(f) ?? []) {
      rows.push({ feature: f, rank: ex.rank, sequence: ex.sequence, position: ex.position, token: dec(ex.token), activation: ex.activation, context: contextOf(ex, o) });
    }
  }
  return rows;
}

/**
 * Interactive Vega-Lite view: a drop-down of live features; for the chosen one, its top examples as
 * bars labelled with their context (or sequence:position) and the histogram of its activations.
 */
export function featureBrowserSpec(top: TopExamples, o: BrowserTextOptions & { title?: string } = {}): TopLevelSpec {
  if (!top.live.length) throw new Error('featureBrowserSpec: no live features (every feature is zero on these inputs)');
  const examples = featureExampleRows(top, o).map((r) => ({ ...r, label: `${r.rank}. ${r.context || `seq ${r.sequence} pos ${r.position}`}` }));
  const hist: Row[] = [];
  for (const f of top.live) {
    const h = top.histograms.get(f)!;
    h.counts.forEach((c, i) => hist.push({ feature: f, bin_start: h.edges[i], bin_end: h.edges[i + 1], count: c }));
  }
  const filter = { filter: 'datum.feature == feature' };
  return withSchema({
    title: o.title ?? `Feature browser: ${top.live.length} live of ${top.dSae} features`,
    params: [{ name: 'feature', value: top.live[0], bind: { input: 'select', options: top.live, name: 'feature ' } }],
    hconcat: [
      {
        title: `top ${top.k} activating examples`,
        data: { values: examples },
        transform: [filter],
        width: 360,
        height: { step: 16 },
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'label', type: 'nominal', sort: { field: 'rank' }, title: null, axis: { labelLimit: 300 } },
          x: { field: 'activation', type: 'quantitative' },
          color: { field: 'token', type: 'nominal' },
          tooltip: [{ field: 'rank' }, { field: 'sequence' }, { field: 'position' }, { field: 'token' }, { field: 'activation', format: '.4f' }, { field: 'context' }],
        },
      },
      {
        title: 'activation histogram (activation > 0)',
        data: { values: hist },
        transform: [filter],
        width: 280,
        height: 240,
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'bin_start', type: 'quantitative', bin: { binned: true }, title: 'activation' },
          x2: { field: 'bin_end' },
          y: { field: 'count', type: 'quantitative' },
        },
      },
    ],
  }) as TopLevelSpec;
}

/** A self-contained static HTML page: one section per live feature (table + SVG histogram). Returns the HTML. */
export async function featureBrowserHtml(top: TopExamples, o: BrowserTextOptions & { title?: string } = {}): Promise<string> {
  const title = o.title ?? `Feature browser: ${top.live.length} live of ${top.dSae} features`;
  const sections: string[] = [];
  for (const f of top.live) {
    const rows = featureExampleRows(top, o, f);
    const cols = ['rank', 'sequence', 'position', 'token', 'activation', 'context'];
    const h = top.histograms.get(f)!;
    const svg = await renderSvg(histogramSpec({ edges: h.edges, counts: h.counts }, { title: `feature ${f}: activations > 0 (${h.firing} positions)`, width: 320, height: 160, xTitle: 'activation' }));
    sections.push(`<section id="f${f}"><h2>Feature ${f}</h2><div class="row"><div>${tableHtml(cols, rows.map((r) => cols.map((c) => r[c])), 4)}</div><div>${svg}</div></div></section>`);
  }
  const nav = top.live.map((f) => `<a href="#f${f}">${f}</a>`).join(' ');
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:1.5em}nav a{margin-right:.4em}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:last-child{text-align:left;font-family:monospace}
.row{display:flex;gap:2em;align-items:flex-start}section{margin-bottom:2em}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>Top ${top.k} activating (sequence, position) pairs per live feature over ${top.shape[0]} sequences of ${top.shape[1]} positions; the active token is in [brackets].</p>
<nav>${nav}</nav>
${sections.join('\n')}
</body></html>
`;
}

/** Write the static feature browser page (atomically). */
export async function writeFeatureBrowserHtml(file: string, top: TopExamples, o: BrowserTextOptions & { title?: string } = {}): Promise<void> {
  writeFileAtomic(file, await featureBrowserHtml(top, o));
}

/** In a notebook: the interactive view, then the first live feature's table. */
export async function showFeatureBrowser(top: TopExamples, o: BrowserTextOptions & { title?: string } = {}): Promise<void> {
  await showPlot(featureBrowserSpec(top, o) as unknown as Record<string, unknown>, { text: `<feature browser: ${top.live.length} live features>` });
  if (top.live.length) showTable(featureExampleRows(top, o, top.live[0]), { title: `feature ${top.live[0]}: top examples` });
}
