/**
 * Documents -> fixed-length token contexts, with SAELens's semantics (concat_and_batch_sequences):
 * documents are concatenated; every context may start with `beginBatchTokenId` (BOS); every document may
 * start with `beginSequenceTokenId`; a `sequenceSeparatorTokenId` goes between two documents that share a
 * context; a special token is not added when the text already starts with it; a context that the
 * stream ends before filling is dropped.
 */
export interface ConcatOptions {
  /** tokens per context (SAELens context_size) */
  contextSize: number;
  /** token at position 0 of every context (SAELens begin_batch_token; BOS when prepend_bos) */
  beginBatchTokenId?: number | null;
  /** token at the start of every document (SAELens begin_sequence_token) */
  beginSequenceTokenId?: number | null;
  /** token between concatenated documents (SAELens sequence_separator_token) */
  sequenceSeparatorTokenId?: number | null;
  /** one context per document (cut to contextSize; shorter documents dropped), no concatenation */
  disableConcatSequences?: boolean;
}

type Ids = ArrayLike<number>;

function checkContextSize(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`contextSize must be a positive integer, got ${n}`);
}

/** Streaming packer: push documents' ids, take finished contexts. Holds at most one partial context. */
export class ContextPacker {
  private current: number[] | null = null;
  private readonly out: Int32Array[] = [];

  constructor(readonly opts: ConcatOptions) {
    checkContextSize(opts.contextSize);
  }

  /** Add one document's token ids. */
  push(tokens: Ids): void {
    const o = this.opts;
    const ctx = o.contextSize;
    if (o.disableConcatSequences) {
      let seq = Array.from(tokens);
      const start = o.beginSequenceTokenId ?? o.beginBatchTokenId ?? null;
      if (start !== null && seq.length && seq[0] !== start && seq.length >= ctx - 1) seq = [start, ...seq.slice(0, ctx - 1)];
      if (seq.length >= ctx) this.out.push(Int32Array.from(seq.slice(0, ctx)));
      return;
    }
    let offset = 0;
    let startOfDoc = true;
    while (offset < tokens.length) {
      const prefix: number[] = [];
      let first = tokens[offset];
      const addPrefix = (id: number | null | undefined) => {
        if (id === null || id === undefined || first === id) return;
        prefix.unshift(id);
        first = id;
      };
      if (startOfDoc) addPrefix(o.beginSequenceTokenId);
      if (this.current === null) {
        addPrefix(o.beginBatchTokenId);
        const pre = prefix.slice(0, ctx);
        const need = Math.max(ctx - pre.length, 0);
        this.current = pre;
        for (let i = offset; i < Math.min(offset + need, tokens.length); i++) this.current.push(tokens[i]);
        offset += need;
      } else {
        addPrefix(o.sequenceSeparatorTokenId);
        const room = Math.max(ctx - this.current.length, 0);
        const need = Math.max(room - prefix.length, 0);
        this.current.push(...prefix.slice(0, room));
        for (let i = offset; i < Math.min(offset + need, tokens.length); i++) this.current.push(tokens[i]);
        offset += need;
      }
      startOfDoc = false;
      if (this.current.length === ctx) {
        this.out.push(Int32Array.from(this.current));
        this.current = null;
      }
    }
  }

  /** Finished contexts since the last call, each `Int32Array[contextSize]`. */
  take(): Int32Array[] {
    return this.out.splice(0, this.out.length);
  }
}

/** Pack documents' ids into contexts (synchronous). */
export function* concatAndBatchSequences(docs: Iterable<Ids>, opts: ConcatOptions): Generator<Int32Array> {
  const p = new ContextPacker(opts);
  for (const d of docs) {
    p.push(d);
    for (const c of p.take()) yield c;
  }
}

/** Anything that turns text into ids without special tokens (a saelab Tokenizer). */
export interface TextTokenizer {
  encodeRaw(text: string): number[];
  bosTokenId?: number;
  eosTokenId?: number;
}

export interface TokenizeConcatOptions {
  contextSize: number;
  /** start every context with BOS (SAELens prepend_bos; default true) */
  prependBos?: boolean;
  /** token between documents: 'bos' (SAELens default), 'eos', an id, or null for none */
  separator?: 'bos' | 'eos' | number | null;
  /** token at the start of every document: 'bos', 'eos', an id, or null (default) */
  beginSequence?: 'bos' | 'eos' | number | null;
  disableConcatSequences?: boolean;
  /** stop after this many contexts */
  maxContexts?: number;
}

function specialId(v: 'bos' | 'eos' | number | null | undefined, tok: TextTokenizer, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  const id = v === 'bos' ? tok.bosTokenId : tok.eosTokenId;
  if (id === undefined) throw new Error(`${what} '${v}' asked for, but the tokenizer has no ${v} token`);
  return id;
}

/**
 * Tokenize a stream of documents (without special tokens) and pack them into fixed-length
 * `Int32Array[contextSize]` contexts, SAELens-style: BOS at the start of each context (prependBos),
 * a separator (BOS by default) between documents. Streams: holds one document and one partial context.
 */
export async function* tokenizeAndConcatenate(texts: AsyncIterable<string> | Iterable<string>, tokenizer: TextTokenizer, opts: TokenizeConcatOptions): AsyncGenerator<Int32Array> {
  const prependBos = opts.prependBos ?? true;
  const packer = new ContextPacker({
    contextSize: opts.contextSize,
    beginBatchTokenId: prependBos ? specialId('bos', tokenizer, 'prependBos') : null,
    beginSequenceTokenId: specialId(opts.beginSequence, tokenizer, 'beginSequence'),
    sequenceSeparatorTokenId: specialId(opts.separator === undefined ? 'bos' : opts.separator, tokenizer, 'separator'),
    disableConcatSequences: opts.disableConcatSequences,
  });
  let n = 0;
  const max = opts.maxContexts ?? Infinity;
  if (max <= 0) return;
  for await (const text of texts) {
    packer.push(tokenizer.encodeRaw(text));
    for (const c of packer.take()) {
      yield c;
      if (++n >= max) return;
    }
  }
}

/** Group a stream into arrays of `size` (the last one may be shorter unless dropLast). */
export async function* batched<T>(items: AsyncIterable<T> | Iterable<T>, size: number, dropLast = false): AsyncGenerator<T[]> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be a positive integer, got ${size}`);
  let b: T[] = [];
  for await (const x of items) {
    b.push(x);
    if (b.length === size) {
      yield b;
      b = [];
    }
  }
  if (b.length && !dropLast) yield b;
}

/** Stack contexts into one row-major Int32Array [n, contextSize] (for tf.tensor2d(data, [n, ctx], 'int32')). */
export function stackContexts(contexts: Int32Array[]): Int32Array {
  const ctx = contexts[0]?.length ?? 0;
  const out = new Int32Array(contexts.length * ctx);
  contexts.forEach((c, i) => {
    if (c.length !== ctx) throw new Error(`stackContexts: context ${i} has ${c.length} tokens, expected ${ctx}`);
    out.set(c, i * ctx);
  });
  return out;
}
