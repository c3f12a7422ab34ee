/** Tables as plain data (rows) and their text and HTML renderings; lib/notebook/table.ts displays them. */

/** Rows of a table: column name -> value. */
export type Row = Record<string, string | number | boolean | null | undefined>;

/** Text escaped for HTML element content and attribute values (&, <, >, ", '). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
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

/** Plain-text rendering of a table (aligned columns). */
export function tableText(columns: string[], values: unknown[][], digits = 4): string {
  const cells = [columns, ...values.map((r) => r.map((v) => fmt(v, digits)))];
  const widths = columns.map((_, j) => Math.max(...cells.map((r) => String(r[j] ?? '').length)));
  return cells.map((r) => r.map((c, j) => String(c ?? '').padStart(widths[j])).join('  ')).join('\n');
}

/** HTML rendering of a table. */
export function tableHtml(columns: string[], values: unknown[][], digits = 4, title?: string): string {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = values.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(fmt(v, digits))}</td>`).join('')}</tr>`).join('');
  const cap = title ? `<caption>${escapeHtml(title)}</caption>` : '';
  return `<table class="dataframe">${cap}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
