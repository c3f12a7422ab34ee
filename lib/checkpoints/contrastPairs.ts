/**
 * Next-token contrast prompt pairs from a token stream, in the agreement data's JSON-lines layout
 * ({clean_prefix, patch_prefix, clean_answer, patch_answer, case}): a context taken from the text ending in
 * token A (clean) or the same context ending in token B (patch); the answers are A's and B's most frequent
 * successors in the stream. A model that has learned these bigram statistics prefers the clean answer on
 * the clean prompt and the patch answer on the patch prompt, so its circuit can be followed through
 * training on a model too small to learn agreement.
 */
import { SvaRecord } from '../circuits/svaData';

export interface ContrastTokenizer {
  decode(ids: ArrayLike<number>): string;
}

export interface ContrastOptions {
  /** tokens of context before the final token (default 5) */
  prefixTokens?: number;
  /** a token qualifies when it occurs at least this often (default 50) ... */
  minCount?: number;
  /** ... and its most frequent successor follows it at least this share of the time (default 0.3) */
  minShare?: number;
  /** tokens never used as final tokens, answers or context (BOS / separators) */
  exclude?: number[];
  /** at most this many final tokens (the most frequent qualifying ones; default 16) and contexts per token (default 4) */
  maxTokens?: number;
  contextsPerToken?: number;
}

export interface BigramStats {
  /** token -> occurrences (as a predecessor) */
  count: Map<number, number>;
  /** token -> [most frequent successor, its count] */
  top: Map<number, [number, number]>;
}

/** Occurrence counts and most frequent successors (ties: the smaller id) of every token in the stream. */
export function bigramStats(stream: ArrayLike<number>, exclude: Set<number> = new Set()): BigramStats {
  const succ = new Map<number, Map<number, number>>();
  const count = new Map<number, number>();
  for (let i = 0; i + 1 < stream.length; i++) {
    const a = stream[i];
    const b = stream[i + 1];
    if (exclude.has(a) || exclude.has(b)) continue;
    count.set(a, (count.get(a) ?? 0) + 1);
    let m = succ.get(a);
    if (!m) succ.set(a, (m = new Map()));
    m.set(b, (m.get(b) ?? 0) + 1);
  }
  const top = new Map<number, [number, number]>();
  for (const [a, m] of succ) {
    let best: [number, number] = [-1, -1];
    for (const [b, c] of m) if (c > best[1] || (c === best[1] && b < best[0])) best = [b, c];
    top.set(a, best);
  }
  return { count, top };
}

/**
 * Contrast pairs (see the module comment). Final tokens qualify by minCount and minShare; each is paired
 * with the next qualifying token (cyclically) whose top successor differs; contexts are the first
 * occurrences of the clean token with prefixTokens clean tokens before it (no excluded token inside).
 */
export function nextTokenContrastRecords(stream: ArrayLike<number>, tok: ContrastTokenizer, o: ContrastOptions = {}): SvaRecord[] {
  const prefix = o.prefixTokens ?? 5;
  const exclude = new Set(o.exclude ?? []);
  const { count, top } = bigramStats(stream, exclude);
  const minCount = o.minCount ?? 50;
  const minShare = o.minShare ?? 0.3;
  const tokens = [...count.entries()]
    .filter(([a, n]) => n >= minCount && top.get(a)![1] / n >= minShare)
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, o.maxTokens ?? 16)
    .map(([a]) => a);
  const perToken = o.contextsPerToken ?? 4;
  const out: SvaRecord[] = [];
  tokens.forEach((a, k) => {
    let partner = -1;
    for (let d = 1; d < tokens.length && partner < 0; d++) {
      const b = tokens[(k + d) % tokens.length];
      if (top.get(b)![0] !== top.get(a)![0]) partner = b;
    }
    if (partner < 0) return;
    const [answerA, answerB] = [top.get(a)![0], top.get(partner)![0]];
    let found = 0;
    for (let i = prefix; i < stream.length && found < perToken; i++) {
      if (stream[i] !== a) continue;
      const ctx = Array.from({ length: prefix }, (_, j) => stream[i - prefix + j]);
      if (ctx.some((t) => exclude.has(t))) continue;
      out.push({
        clean_prefix: tok.decode([...ctx, a]), patch_prefix: tok.decode([...ctx, partner]),
        clean_answer: tok.decode([answerA]), patch_answer: tok.decode([answerB]),
        case: `bigram:${JSON.stringify(tok.decode([a]))}->${JSON.stringify(tok.decode([answerA]))}`,
      });
      found++;
    }
  });
  return out;
}
