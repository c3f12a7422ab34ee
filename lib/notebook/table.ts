import { displayBundle } from './display';
import { Row, escapeHtml, tableHtml, tableText } from '../plots/table';

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

/**
 * Show a danfojs DataFrame (or plain rows) as an HTML table with a text/plain fallback.
 */
export function showTable(table: any | Row[], opts: { title?: string; digits?: number; maxRows?: number } = {}): void {
  const df = Array.isArray(table) ? toDataFrame(table) : table;
  const { columns, values } = rowsOf(df);
  const shown = opts.maxRows ? values.slice(0, opts.maxRows) : values;
  const digits = opts.digits ?? 4;
  const more = shown.length < values.length ? `\n... ${values.length - shown.length} more rows` : '';
  const text = (opts.title ? `${opts.title}\n` : '') + tableText(columns, shown, digits) + more;
  displayBundle({ 'text/html': tableHtml(columns, shown, digits, opts.title) + (more ? `<p>${escapeHtml(more.trim())}</p>` : ''), 'text/plain': text });
}
