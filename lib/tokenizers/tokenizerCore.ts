/**
 * The tokenizer class and building it from the JSON of tokenizer.json / tokenizer_config.json /
 * special_tokens_map.json, without the file system (runs in Node and in a browser). Loading from
 * folders and the hub is in ./tokenizer.
 */
import * as tf from '@tensorflow/tfjs';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { bytesToUnicode } from './trainBpe';

/** Options for TransformerLens-style batch tokenization (`model.to_tokens`). */
export interface ToTokensOptions {
  /** prepend the BOS token id (TransformerLens prepend_bos; default true) */
  prependBos?: boolean;
  /** pad a batch to its longest sequence (default true); with false every text must have the same length */
  padding?: boolean;
  /** 'right' (TransformerLens default) or 'left' */
  paddingSide?: 'left' | 'right';
  /** cut every sequence to at most this many tokens (BOS included) */
  maxLength?: number;
}

export interface BatchTokens {
  /** [batch][pos] token ids, padded with padTokenId */
  tokens: number[][];
  /** [batch][pos] 1 for real tokens, 0 for padding */
  attentionMask: number[][];
}

type SpecialTokenValue = string | { content: string } | null | undefined;

function tokenContent(v: SpecialTokenValue): string | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? v : v.content;
}

/**
 * A model's tokenizer (tokenizer.json + tokenizer_config.json), encoding and decoding exactly as the
 * Hugging Face tokenizer does (through @huggingface/tokenizers), with TransformerLens's BOS handling.
 */
export class Tokenizer {
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly unkToken?: string;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
  readonly unkTokenId?: number;
  /** the configured pad token's id, else the EOS id (TransformerLens sets pad = eos when a tokenizer has none) */
  readonly padTokenId?: number;
  /** true when tokenizer_config.json names a pad token of its own */
  readonly hasOwnPadToken: boolean;
  private vocabCache?: Map<string, number>;

  constructor(
    /** where tokenizer.json came from */
    readonly source: string,
    readonly hf: HfTokenizer,
    readonly tokenizerJson: Record<string, unknown>,
    readonly config: Record<string, unknown>,
  ) {
    const id = (t: string | undefined) => (t === undefined ? undefined : hf.token_to_id(t));
    this.bosToken = tokenContent(config.bos_token as SpecialTokenValue);
    this.eosToken = tokenContent(config.eos_token as SpecialTokenValue);
    this.unkToken = tokenContent(config.unk_token as SpecialTokenValue);
    const padToken = tokenContent(config.pad_token as SpecialTokenValue);
    this.bosTokenId = id(this.bosToken);
    this.eosTokenId = id(this.eosToken);
    this.unkTokenId = id(this.unkToken);
    this.hasOwnPadToken = padToken !== undefined && id(padToken) !== undefined;
    this.padTokenId = this.hasOwnPadToken ? id(padToken) : this.eosTokenId;
  }

  /** Encode as the model's tokenizer does by default (add_special_tokens=true, e.g. Llama/Gemma add BOS, GPT-2 adds nothing). */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Encode without any special tokens added by the post-processor (special tokens written in the text stay whole). */
  encodeRaw(text: string): number[] {
    return this.encode(text, { addSpecialTokens: false });
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** token string -> id, added tokens included (as transformers' get_vocab()). */
  vocab(): Map<string, number> {
    if (!this.vocabCache) this.vocabCache = this.hf.get_vocab(true);
    return this.vocabCache;
  }

  /** number of entries in the vocabulary, added tokens included (len(tokenizer) in transformers) */
  get vocabSize(): number {
    return this.vocab().size;
  }

  /** One text's ids with TransformerLens's prepend_bos semantics: [bos] + text ids, or the text ids alone. */
  toIds(text: string, prependBos = true): number[] {
    const ids = this.encodeRaw(text);
    if (!prependBos) return ids;
    if (this.bosTokenId === undefined) throw new Error(`tokenizer ${this.source} has no bos_token in tokenizer_config.json; use prependBos: false`);
    return [this.bosTokenId, ...ids];
  }

  /** TransformerLens `to_tokens`: a batch of texts -> padded ids and attention mask. */
  toTokens(texts: string | string[], opts: ToTokensOptions = {}): BatchTokens {
    const list = typeof texts === 'string' ? [texts] : texts;
    let seqs = list.map((t) => this.toIds(t, opts.prependBos ?? true));
    if (opts.maxLength !== undefined) seqs = seqs.map((s) => s.slice(0, opts.maxLength));
    const len = Math.max(0, ...seqs.map((s) => s.length));
    if (opts.padding === false) {
      const bad = seqs.findIndex((s) => s.length !== len);
      if (bad >= 0) throw new Error(`toTokens: text ${bad} has ${seqs[bad].length} tokens, others ${len}; pass padding: true`);
    }
    if (seqs.some((s) => s.length < len) && this.padTokenId === undefined) throw new Error(`tokenizer ${this.source} has no pad or eos token to pad with`);
    const left = opts.paddingSide === 'left';
    const tokens: number[][] = [];
    const attentionMask: number[][] = [];
    for (const s of seqs) {
      const pad = new Array<number>(len - s.length).fill(this.padTokenId ?? 0);
      const ones = new Array<number>(s.length).fill(1);
      const zeros = new Array<number>(len - s.length).fill(0);
      tokens.push(left ? [...pad, ...s] : [...s, ...pad]);
      attentionMask.push(left ? [...zeros, ...ones] : [...ones, ...zeros]);
    }
    return { tokens, attentionMask };
  }

  /** `toTokens` as an int32 tensor [batch, pos]. */
  toTokensTensor(texts: string | string[], opts: ToTokensOptions = {}): tf.Tensor2D {
    const { tokens } = this.toTokens(texts, opts);
    return tf.tensor2d(tokens, [tokens.length, tokens[0]?.length ?? 0], 'int32');
  }

  /** TransformerLens `to_str_tokens`: each token decoded on its own. */
  toStrTokens(textOrIds: string | ArrayLike<number>, prependBos = true): string[] {
    const ids = typeof textOrIds === 'string' ? this.toIds(textOrIds, prependBos) : Array.from(textOrIds);
    return ids.map((id) => this.decode([id]));
  }
}

/** The JSON files of a tokenizer folder; `source` names where tokenizer.json came from (a path or URL). */
export interface TokenizerFiles {
  source: string;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
}

/** Build a tokenizer from its files' JSON: special_tokens_map.json fills special tokens tokenizer_config.json leaves out. */
export function tokenizerFromJson(files: TokenizerFiles): Tokenizer {
  const config: Record<string, unknown> = { ...(files.tokenizerConfig ?? {}) };
  const map = files.specialTokensMap;
  if (map) {
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) if (config[k] === undefined && map[k] !== undefined) config[k] = map[k];
  }
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(files.tokenizerJson, config);
  } catch (e) {
    throw new Error(`${files.source}: not a tokenizer this library can run (${(e as Error).message})`);
  }
  return new Tokenizer(files.source, hf, files.tokenizerJson, config);
}

/** GPT-2's byte-level alphabet inverted: the character standing for each byte -> the byte. */
let byteLevelInverse: Map<string, number> | undefined;
function byteLevelDecoder(): Map<string, number> {
  if (!byteLevelInverse) byteLevelInverse = new Map(bytesToUnicode().map((ch, b) => [ch, b]));
  return byteLevelInverse;
}

/**
 * One token's text for a person to read: the decoded text, or, when the token is only part of a
 * multi-byte character (decoding gives U+FFFD), its bytes in hex, e.g. `<e2 80>`.
 */
export function tokenDisplayText(tokenizer: Tokenizer, id: number): string {
  const s = tokenizer.decode([id]);
  if (!s.includes('\uFFFD')) return s;
  const piece = tokenizer.idToToken(id);
  if (piece === undefined) return s;
  const inv = byteLevelDecoder();
  const bytes: number[] = [];
  for (const ch of piece) {
    const b = inv.get(ch);
    if (b === undefined) return s;
    bytes.push(b);
  }
  return `<${bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}>`;
}
