import { displayBundle } from './display';
import { Row, escapeHtml, tableHtml, tableText } from '../plots/table';

/** A danfojs DataFrame from rows (danfojs-node is loaded on first use). */
export function toDataFrame(rows: Row[]): any {
  const dfd = require('danfojs-node');
  return new dfd.DataFrame(rows);
}

/** Rows from a danfojs DataFrame. */
function rowsOf(df: any): { columns: string[]; values: unknown[][] } {
  return { columns: df.columns as string[], values: df.values as unknown[][] };
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
  displayBundle({ 'text/html': tableHtml(columns, shown, digits, opts.title) + (more ? `<p>${escapeHtml(more)}</p>` : ''), 'text/plain': text });
}
