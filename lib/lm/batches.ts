import { mulberry32 } from '../data/random';

/**
 * Samples training contexts from one long token stream: each context is BOS followed by ctx - 1
 * consecutive tokens from a random offset (the layout TransformerLens's prepend_bos gives).
 */
export class TokenWindowSampler {
  private readonly rand: () => number;
  private drawn = 0;

  constructor(readonly stream: Int32Array, readonly contextSize: number, readonly batchSize: number, readonly bosTokenId: number, readonly seed: number) {
    if (stream.length < contextSize) throw new Error(`token stream has ${stream.length} tokens, fewer than the context size ${contextSize}`);
    this.rand = mulberry32(seed);
  }

  /** The next batch as row-major int32 [batchSize, contextSize]. */
  next(): Int32Array {
    const { contextSize: c, batchSize: b } = this;
    const out = new Int32Array(b * c);
    for (let i = 0; i < b; i++) {
      const start = Math.floor(this.rand() * (this.stream.length - (c - 1)));
      out[i * c] = this.bosTokenId;
      out.set(this.stream.subarray(start, start + c - 1), i * c + 1);
    }
    this.drawn++;
    return out;
  }

  /** Skip n batches (to resume at the same data position). */
  skip(n: number): void {
    for (let i = 0; i < n; i++) this.next();
  }

  get batchesDrawn(): number {
    return this.drawn;
  }
}

/** Concatenate tokenized documents into one stream, with a separator token after each. */
export function concatWithSeparator(docs: number[][], separator: number): Int32Array {
  const n = docs.reduce((a, d) => a + d.length + 1, 0);
  const out = new Int32Array(n);
  let o = 0;
  for (const d of docs) {
    out.set(d, o);
    o += d.length;
    out[o++] = separator;
  }
  return out;
}
