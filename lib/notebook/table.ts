import { displayBundle } from './display';

/** Rows of a table: column name -> value. */
export type Row = Record<string, string | number | boolean | null | undefined>;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: unknown, digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(digits - 1) : v.toFixed(digits);
  }
  return String(v);
}

/** A danfojs DataFrame from rows (danfojs-node is loaded on first use). */
export function toDataFrame(rows: Row[]): any {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const dfd = require('danfojs-node');
  return new dfd.DataFrame(rows);
}

/** Rows from a danfojs DataFrame. */
function rowsOf(df: any): { columns: string[]; values: unknown[][] } {
  return { columns: df.columns as string[], values: df.values as unknown[][] };
}

/** Plain-text rendering of a table (aligned columns). */
export function tableText(columns: string[], values: unknown[][], digits = 4): string {
  const cells = [columns, ...values.map((r) => r.map((v) => fmt(v, digits)))];
  const widths = columns.map((_, j) => Math.max(...cells.map((r) => String(r[j] ?? '').length)));
  return cells.map((r) => r.map((c, j) => String(c ?? '').padStart(widths[j])).join('  ')).join('\n');
}

/** HTML rendering of a table. */
export function tableHtml(columns: string[], values: unknown[][], digits = 4, title?: string): string {
  const head = columns.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = values.map((r) => `<tr>${r.map((v) => `<td>${esc(fmt(v, digits))}</td>`).join('')}</tr>`).join('');
  const cap = title ? `<caption>${esc(title)}</caption>` : '';
  return `<table class="dataframe">${cap}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Rows a table shows unless told otherwise (`maxRows`); the rest are counted under it. */
export const DEFAULT_MAX_ROWS = 50;

/**
 * Show a danfojs DataFrame (or plain rows) as an HTML table with a text/plain fallback. Tables longer
 * than `maxRows` (default 50; Infinity for all) show their first rows and say how many are left out.
 */
export function showTable(table: any | Row[], opts: { title?: string; digits?: number; maxRows?: number } = {}): void {
  const df = Array.isArray(table) ? toDataFrame(table) : table;
  const { columns, values } = rowsOf(df);
  const maxRows = opts.maxRows ?? DEFAULT_MAX_ROWS;
  const shown = values.length > maxRows ? values.slice(0, maxRows) : values;
  const digits = opts.digits ?? 4;
  const more = shown.length < values.length ? `... ${values.length - shown.length} more rows (${shown.length} of ${values.length} shown)` : '';
  const text = (opts.title ? `${opts.title}\n` : '') + tableText(columns, shown, digits) + (more ? `\n${more}` : '');
  displayBundle({ 'text/html': tableHtml(columns, shown, digits, opts.title) + (more ? `<p>${esc(more)}</p>` : ''), 'text/plain': text });
}
