/**
 * Train a byte-level BPE tokenizer (GPT-2's scheme) on text and write it as a Hugging Face
 * tokenizer.json, so the small models saelab makes load with the same tokenizer code as GPT-2.
 */

/** GPT-2's reversible byte -> printable unicode character map. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const map = new Array<string>(256);
  bs.forEach((b, i) => { map[b] = String.fromCodePoint(cs[i]); });
  return map;
}

/** GPT-2's pre-tokenization pattern (contractions, letters, numbers, punctuation, whitespace). */
export const GPT2_PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface BpeTrainOptions {
  /** final vocabulary size including the special tokens and the 256 byte symbols */
  vocabSize: number;
  /** special tokens, given the first ids (default ['<|endoftext|>']) */
  specialTokens?: string[];
  /** pairs seen fewer times than this are never merged */
  minFrequency?: number;
}

export interface TrainedBpe {
  /** token string (byte-level unicode) -> id */
  vocab: Map<string, number>;
  /** merges in rank order, as "a b" */
  merges: string[];
  specialTokens: string[];
}

/** Count pre-tokenized words (as byte-level unicode strings) over texts. */
export function countWords(texts: Iterable<string>): Map<string, number> {
  const byteMap = bytesToUnicode();
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(GPT2_PRETOKENIZE)) {
      const bytes = enc.encode(m[0]);
      let w = '';
      for (const b of bytes) w += byteMap[b];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Learn merges: repeatedly merge the most frequent adjacent symbol pair over the word counts
 * (ties broken by the pair's string order, so training is deterministic).
 */
export function trainBpe(wordCounts: Map<string, number>, opts: BpeTrainOptions): TrainedBpe {
  const specials = opts.specialTokens ?? ['<|endoftext|>'];
  const minFreq = opts.minFrequency ?? 2;
  const vocab = new Map<string, number>();
  for (const s of specials) vocab.set(s, vocab.size);
  for (const ch of bytesToUnicode()) vocab.set(ch, vocab.size);
  const merges: string[] = [];
  // symbols as interned ids
  const symbols: string[] = [];
  const symId = new Map<string, number>();
  const intern = (s: string): number => {
    let id = symId.get(s);
    if (id === undefined) { id = symbols.length; symbols.push(s); symId.set(s, id); }
    return id;
  };
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, c] of [...wordCounts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    words.push([...w].map(intern));
    freqs.push(c);
  }
  const key = (a: number, b: number) => a * 1048576 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number) => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = key(w[i], w[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freqs[wi]);
      if (sign > 0) {
        let s = pairWords.get(k);
        if (!s) { s = new Set(); pairWords.set(k, s); }
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);
  while (vocab.size < opts.vocabSize) {
    let best = -1;
    let bestCount = 0;
    let bestStr = '';
    for (const [k, c] of pairCount) {
      if (c < minFreq || c < bestCount) continue;
      const a = Math.floor(k / 1048576);
      const b = k % 1048576;
      const str = `${symbols[a]} ${symbols[b]}`;
      if (c > bestCount || str < bestStr) { best = k; bestCount = c; bestStr = str; }
    }
    if (best < 0) break;
    const a = Math.floor(best / 1048576);
    const b = best % 1048576;
    const merged = intern(symbols[a] + symbols[b]);
    merges.push(bestStr);
    vocab.set(symbols[merged], vocab.size);
    const affected = [...(pairWords.get(best) ?? [])];
    for (const wi of affected) {
      const w = words[wi];
      addPairs(wi, -1);
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) { out.push(merged); i++; } else out.push(w[i]);
      }
      words[wi] = out;
      addPairs(wi, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }
  return { vocab, merges, specialTokens: specials };
}

/** The Hugging Face tokenizer.json for a trained byte-level BPE (GPT-2 style, no prefix space). */
export function bpeTokenizerJson(bpe: TrainedBpe): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: bpe.specialTokens.map((content) => ({
      id: bpe.vocab.get(content), content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab: Object.fromEntries(bpe.vocab), merges: bpe.merges,
    },
  };
}

/** tokenizer_config.json for a GPT-2-style tokenizer whose BOS/EOS/UNK/PAD is `special`. */
export function gpt2StyleTokenizerConfig(special: string, modelMaxLength: number): Record<string, unknown> {
  return {
    add_bos_token: false, add_prefix_space: false, bos_token: special, eos_token: special, unk_token: special, pad_token: special,
    clean_up_tokenization_spaces: false, model_max_length: modelMaxLength, tokenizer_class: 'GPT2Tokenizer',
  };
}
