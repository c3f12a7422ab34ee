/**
 * Tokenizer files for stand-in repos, with the real vocabulary sizes and the layouts of the real
 * tokenizer.json files (GPT-2 / GPT-NeoX byte-level BPE; SentencePiece-converted BPE with byte
 * fallback for Llama/Mistral and Gemma). All are derived from GPT-2's shipped vocabulary and merges,
 * so they tokenize English into real subwords; the SentencePiece vocabularies convert GPT-2's
 * byte-level pieces to text (spaces as '▁') and, past GPT-2's 50k merges, add merges of frequent
 * word pairs up to the size.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SAELAB_ROOT } from '../version';
import { seededRandom, shuffleInPlace } from '../data/random';
import { TokenizerKind } from './catalog';

/** File name -> contents of a tokenizer's files. */
export type TokenizerFiles = Record<string, string>;

interface Gpt2Tokenizer {
  json: Record<string, any>;
  vocab: Record<string, number>;
  merges: string[];
}

let gpt2Cache: Gpt2Tokenizer | null = null;

function gpt2Dir(): string {
  return path.join(SAELAB_ROOT, 'data', 'tokenizers', 'gpt2');
}

function loadGpt2(): Gpt2Tokenizer {
  if (!gpt2Cache) {
    const json = JSON.parse(fs.readFileSync(path.join(gpt2Dir(), 'tokenizer.json'), 'utf8'));
    gpt2Cache = { json, vocab: json.model.vocab, merges: json.model.merges };
  }
  return gpt2Cache;
}

/** GPT-2's bytes_to_unicode: byte -> the printable character its byte-level vocabulary uses. */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i])]));
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

function addedToken(id: number, content: string, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

/** The tokenizer files of one kind (`size` overrides a SentencePiece kind's vocabulary size, for tiny stand-ins). */
export function tokenizerFiles(kind: TokenizerKind, opts: { size?: number; maxLength?: number } = {}): TokenizerFiles {
  switch (kind.kind) {
    case 'gpt2': return gpt2Files();
    case 'gpt2-shuffled': return gpt2ShuffledFiles(kind.seed);
    case 'neox': return neoxFiles(kind.size);
    case 'sentencepiece': return sentencePieceFiles(kind.style, opts.size ?? kind.size, kind.extraTokens ?? [], opts.maxLength);
  }
}

function gpt2Files(): TokenizerFiles {
  const out: TokenizerFiles = {};
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) out[f] = fs.readFileSync(path.join(gpt2Dir(), f), 'utf8');
  return out;
}

/** GPT-2's vocabulary with every id moved by a seeded permutation (<|endoftext|> lands at 0, as in many retrained BPEs). */
function gpt2ShuffledFiles(seed: number): TokenizerFiles {
  const g = loadGpt2();
  const n = Object.keys(g.vocab).length;
  const eot = g.vocab['<|endoftext|>'];
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => i !== eot);
  const targets = shuffleInPlace(Array.from({ length: n - 1 }, (_, i) => i + 1), seededRandom(seed));
  const perm = new Map<number, number>([[eot, 0]]);
  others.forEach((id, k) => perm.set(id, targets[k]));
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(g.vocab)) vocab[tok] = perm.get(id)!;
  const tj = { ...g.json, added_tokens: [addedToken(0, '<|endoftext|>')], model: { ...g.json.model, vocab } };
  const cfg = {
    tokenizer_class: 'GPT2Tokenizer', add_bos_token: false, add_prefix_space: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>', pad_token: null, model_max_length: 1024, errors: 'replace',
    added_tokens_decoder: { 0: { content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
  };
  return {
    'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': json(cfg),
    'special_tokens_map.json': json({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' }),
  };
}

/** GPT-NeoX layout: <|endoftext|> 0, <|padding|> 1, GPT-2's byte-level pieces after them, runs of spaces as added tokens up to `size`. */
function neoxFiles(size: number): TokenizerFiles {
  const g = loadGpt2();
  const vocab: Record<string, number> = { '<|endoftext|>': 0, '<|padding|>': 1 };
  const byId = Object.entries(g.vocab).filter(([t]) => t !== '<|endoftext|>').sort((a, b) => a[1] - b[1]);
  let next = 2;
  for (const [tok] of byId) vocab[tok] = next++;
  const added = [addedToken(0, '<|endoftext|>'), addedToken(1, '<|padding|>')];
  for (let run = 24; next < size && run >= 2; run--, next++) {
    const content = ' '.repeat(run);
    added.push(addedToken(next, content, false));
  }
  if (next !== size) throw new Error(`neox stand-in tokenizer: cannot reach ${size} tokens (have ${next})`);
  const tj = { ...g.json, added_tokens: added, model: { ...g.json.model, vocab } };
  const cfg = { tokenizer_class: 'GPTNeoXTokenizer', add_prefix_space: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', model_max_length: 1e30 };
  return {
    'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': json(cfg),
    'special_tokens_map.json': json({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' }),
  };
}

/** A GPT-2 byte-level piece as text (spaces as '▁'), or null when its bytes are not whole UTF-8 characters. */
function pieceText(token: string, byteOf: Map<string, number>): string | null {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = byteOf.get(ch);
    if (b === undefined) return null;
    bytes.push(b);
  }
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
  // control characters (newline, tab) go through byte fallback, as in SentencePiece vocabularies
  if ([...s].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f')) return null;
  return s.replace(/ /g, '\u2581');
}

/**
 * SentencePiece-style BPE (tokenizer.json of Llama / Mistral / Gemma): specials, 256 byte-fallback
 * pieces, single characters, then merges, `size` entries in all; `extra` tokens (e.g. MetaMath's [PAD])
 * are added after them.
 */
function sentencePieceFiles(style: 'llama' | 'gemma', size: number, extra: string[], maxLength?: number): TokenizerFiles {
  const g = loadGpt2();
  const byteOf = new Map([...bytesToUnicode()].map(([b, c]) => [c, b]));
  const specials = style === 'llama' ? ['<unk>', '<s>', '</s>'] : ['<pad>', '<eos>', '<bos>', '<unk>'];
  const vocab = new Map<string, number>();
  const add = (t: string) => { if (!vocab.has(t)) vocab.set(t, vocab.size); };
  specials.forEach(add);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const byId = Object.entries(g.vocab).sort((a, b) => a[1] - b[1]);
  for (const [tok, id] of byId) {
    if (id >= 256) break;
    const t = pieceText(tok, byteOf);
    if (t !== null && [...t].length === 1) add(t);
  }
  if (vocab.size > size) throw new Error(`sentencepiece stand-in tokenizer: ${size} tokens is fewer than the ${vocab.size} specials, bytes and characters`);
  const merges: string[] = [];
  for (const m of g.merges) {
    if (vocab.size >= size) break;
    const [a, b] = m.split(' ');
    const A = pieceText(a, byteOf);
    const B = pieceText(b, byteOf);
    if (A === null || B === null) {
      // a multi-byte character assembled from byte pieces is a base character here
      const whole = pieceText(a + b, byteOf);
      if (whole !== null && [...whole].length === 1) add(whole);
      continue;
    }
    const R = A + B;
    if (vocab.has(A) && vocab.has(B) && !vocab.has(R)) { merges.push(`${A} ${B}`); add(R); }
  }
  if (vocab.size < size) {
    // frequent word pieces joined pairwise, in order of their ranks (diagonals), up to the size
    const words = [...vocab.keys()].filter((t) => t.startsWith('\u2581') && t.length > 2).slice(0, 3000);
    for (let s = 0; vocab.size < size && s < 2 * words.length; s++) {
      for (let i = Math.max(0, s - words.length + 1); i <= Math.min(s, words.length - 1) && vocab.size < size; i++) {
        const A = words[i];
        const B = words[s - i];
        if (!vocab.has(A + B)) { merges.push(`${A} ${B}`); add(A + B); }
      }
    }
  }
  if (vocab.size !== size) throw new Error(`sentencepiece stand-in tokenizer: built ${vocab.size} of ${size} tokens`);
  const added = specials.map((t, i) => addedToken(i, t));
  extra.forEach((t, i) => added.push(addedToken(size + i, t)));
  const bos = style === 'llama' ? '<s>' : '<bos>';
  const eos = style === 'llama' ? '</s>' : '<eos>';
  const normalizers: unknown[] = [{ type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }];
  if (style === 'llama') normalizers.unshift({ type: 'Prepend', prepend: '\u2581' });
  const decoders: unknown[] = [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }];
  if (style === 'llama') decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  const bosId = vocab.get(bos)!;
  const tj = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers }, pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
    },
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true,
      vocab: Object.fromEntries(vocab), merges,
    },
  };
  const decoder: Record<string, unknown> = {};
  for (const t of added) decoder[t.id] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  const cfg: Record<string, unknown> = style === 'llama'
    ? { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: extra.includes('[PAD]') ? '[PAD]' : null, legacy: true, tokenizer_class: 'LlamaTokenizer', model_max_length: maxLength ?? 1e30, added_tokens_decoder: decoder }
    : { add_bos_token: true, add_eos_token: false, bos_token: '<bos>', eos_token: '<eos>', unk_token: '<unk>', pad_token: '<pad>', tokenizer_class: 'GemmaTokenizer', model_max_length: maxLength ?? 1e30, added_tokens_decoder: decoder };
  const map: Record<string, unknown> = { bos_token: bos, eos_token: eos, unk_token: '<unk>' };
  if (cfg.pad_token) map.pad_token = cfg.pad_token;
  return { 'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': json(cfg), 'special_tokens_map.json': json(map) };
}
