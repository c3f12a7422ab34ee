import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';

/** Anything with a string -> id vocabulary (a Tokenizer, or a plain map in tests). */
export interface HasVocab {
  vocab(): Map<string, number>;
}

/**
 * Vocabulary comparison of a base and a finetuned model's tokenizers (REFERENCE section 2, stage 1):
 * `only_in_base`, `only_in_ft` (token strings in one vocabulary only), `mismatched` (shared strings
 * with different ids) and `good_X = |V_X| - only_in_X - mismatched`, also as a percentage of |V_X|.
 */
export interface TokenizerComparison {
  base_vocab_size: number;
  ft_vocab_size: number;
  only_in_base: number;
  only_in_ft: number;
  mismatched: number;
  good_base: number;
  good_ft: number;
  good_base_pct: number;
  good_ft_pct: number;
  /** up to 20 examples of each kind, sorted by base id (only_in_ft by finetune id) */
  examples: { only_in_base: string[]; only_in_ft: string[]; mismatched: Array<{ token: string; base_id: number; ft_id: number }> };
}

/** Compare two vocabularies (REFERENCE section 2 stage 1). */
export function compareVocabs(base: Map<string, number>, ft: Map<string, number>): TokenizerComparison {
  const onlyBase: Array<[string, number]> = [];
  const mism: Array<{ token: string; base_id: number; ft_id: number }> = [];
  for (const [tok, id] of base) {
    const other = ft.get(tok);
    if (other === undefined) onlyBase.push([tok, id]);
    else if (other !== id) mism.push({ token: tok, base_id: id, ft_id: other });
  }
  const onlyFt: Array<[string, number]> = [];
  for (const [tok, id] of ft) if (!base.has(tok)) onlyFt.push([tok, id]);
  const goodBase = base.size - onlyBase.length - mism.length;
  const goodFt = ft.size - onlyFt.length - mism.length;
  const pct = (x: number, n: number) => (n ? (100 * x) / n : 0);
  return {
    base_vocab_size: base.size,
    ft_vocab_size: ft.size,
    only_in_base: onlyBase.length,
    only_in_ft: onlyFt.length,
    mismatched: mism.length,
    good_base: goodBase,
    good_ft: goodFt,
    good_base_pct: pct(goodBase, base.size),
    good_ft_pct: pct(goodFt, ft.size),
    examples: {
      only_in_base: onlyBase.sort((a, b) => a[1] - b[1]).slice(0, 20).map((x) => x[0]),
      only_in_ft: onlyFt.sort((a, b) => a[1] - b[1]).slice(0, 20).map((x) => x[0]),
      mismatched: mism.sort((a, b) => a.base_id - b.base_id).slice(0, 20),
    },
  };
}

/** Compare two tokenizers' vocabularies (added tokens included). */
export function compareTokenizers(base: HasVocab, finetune: HasVocab): TokenizerComparison {
  return compareVocabs(base.vocab(), finetune.vocab());
}

/** The comparison as rows: one per tokenizer (columns tokenizer, vocab_size, only_in, mismatched, good, good_pct). */
export function comparisonRows(c: TokenizerComparison, names: { base?: string; finetune?: string } = {}): Array<Record<string, string | number>> {
  return [
    { tokenizer: names.base ?? 'base', vocab_size: c.base_vocab_size, only_in: c.only_in_base, mismatched: c.mismatched, good: c.good_base, good_pct: round(c.good_base_pct) },
    { tokenizer: names.finetune ?? 'finetune', vocab_size: c.ft_vocab_size, only_in: c.only_in_ft, mismatched: c.mismatched, good: c.good_ft, good_pct: round(c.good_ft_pct) },
  ];
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** The comparison as a danfojs DataFrame (danfojs-node is loaded on first use; it is slow to import). */
export function comparisonDataFrame(c: TokenizerComparison, names: { base?: string; finetune?: string } = {}): import('danfojs-node').DataFrame {
  const dfd = require('danfojs-node') as typeof import('danfojs-node');
  return new dfd.DataFrame(comparisonRows(c, names));
}

/** A fixed-width text table of the comparison (what the CLI prints and the log holds). */
export function formatComparison(c: TokenizerComparison, names: { base?: string; finetune?: string } = {}): string {
  const rows = comparisonRows(c, names);
  const cols = Object.keys(rows[0]);
  const widths = cols.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i])).join('  ');
  const out = [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((k) => String(r[k]))))];
  const ex = c.examples;
  out.push('', `only in base (first ${ex.only_in_base.length}): ${JSON.stringify(ex.only_in_base)}`);
  out.push(`only in finetune (first ${ex.only_in_ft.length}): ${JSON.stringify(ex.only_in_ft)}`);
  out.push(`mismatched (first ${ex.mismatched.length}): ${ex.mismatched.map((m) => `${JSON.stringify(m.token)} ${m.base_id}->${m.ft_id}`).join(', ')}`);
  return out.join('\n') + '\n';
}

/**
 * Write the comparison to `<prefix>.csv` (the table), `<prefix>.log` (table and examples) and
 * `<prefix>.json` (all numbers), atomically. Returns the written paths.
 */
export function writeTokenizerComparison(prefix: string, c: TokenizerComparison, names: { base?: string; finetune?: string } = {}): string[] {
  const rows = comparisonRows(c, names);
  const cols = Object.keys(rows[0]);
  const esc = (v: string | number) => (typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  const csv = [cols.join(','), ...rows.map((r) => cols.map((k) => esc(r[k])).join(','))].join('\n') + '\n';
  const files = [`${prefix}.csv`, `${prefix}.log`, `${prefix}.json`].map((f) => path.resolve(f));
  writeFileAtomic(files[0], csv);
  writeFileAtomic(files[1], `tokenizer comparison: base=${names.base ?? 'base'} finetune=${names.finetune ?? 'finetune'}\n\n${formatComparison(c, names)}`);
  writeFileAtomic(files[2], JSON.stringify({ ...names, ...c }, null, 2) + '\n');
  return files;
}
