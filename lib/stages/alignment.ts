import * as tf from '@tensorflow/tfjs';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { ProgressReporter } from '../notebook/progress';
import { Tokenizer } from '../tokenizers/tokenizer';
import { PipelineModels, hookActivations, tokenBatches } from './common';

/** Character spans [start, end) of each token of `ids` in decode(ids) (prefix decoding, so merges across bytes stay right). */
export function tokenSpans(tok: Tokenizer, ids: number[]): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let prev = 0;
  for (let k = 1; k <= ids.length; k++) {
    const len = tok.decode(ids.slice(0, k)).length;
    spans.push([prev, len]);
    prev = len;
  }
  return spans;
}

/**
 * Pairs (i, j) of base token i and finetune token j whose text spans are identical and non-empty.
 * Both span lists are over the same text.
 */
export function alignSpans(a: Array<[number, number]>, b: Array<[number, number]>): Array<[number, number]> {
  const byStart = new Map<string, number>();
  b.forEach(([s, e], j) => { if (e > s) byStart.set(`${s}:${e}`, j); });
  const pairs: Array<[number, number]> = [];
  a.forEach(([s, e], i) => {
    const j = byStart.get(`${s}:${e}`);
    if (e > s && j !== undefined) pairs.push([i, j]);
  });
  return pairs;
}

/**
 * tokenAlignment "text": the base runs on its own contexts; each context's text is re-tokenized with the
 * finetune's tokenizer and run through the finetune; finetune activations are written at the base
 * positions whose token text is identical in both tokenizations (BOS aligned with BOS), NaN elsewhere.
 */
export async function alignByText(m: PipelineModels, tokens: Int32Array, ctx: number, batchSize: number, writers: SafetensorsStreamWriter[], progress: ProgressReporter): Promise<{ aligned: number; total: number }> {
  const baseTok = m.tokenizer;
  const ftTok = m.finetuneTokenizer;
  if (!ftTok || !m.finetune) throw new Error('tokenAlignment "text" needs the finetune model and its tokenizer');
  const bos = baseTok.bosTokenId;
  const ftBos = ftTok.bosTokenId;
  const d = m.base.cfg.d_model;
  let aligned = 0;
  let total = 0;
  for (const b of tokenBatches(tokens, ctx, batchSize)) {
    const act = hookActivations(m.base, b.tokens, m.hook, m.layer);
    writers[0].append(act.dataSync() as Float32Array);
    tf.dispose(act);
    progress.tick();
    const rows = b.tokens.shape[0];
    const out = new Float32Array(rows * ctx * d).fill(NaN);
    const ids2d = b.tokens.arraySync() as number[][];
    b.tokens.dispose();
    for (let r = 0; r < rows; r++) {
      const ids = ids2d[r];
      const hasBos = bos !== undefined && ids[0] === bos;
      const body = hasBos ? ids.slice(1) : ids;
      const text = baseTok.decode(body);
      let ftIds = ftTok.encode(text);
      const useFtBos = hasBos && ftBos !== undefined;
      ftIds = ftIds.slice(0, ctx - (useFtBos ? 1 : 0));
      const baseSpans = tokenSpans(baseTok, body);
      const ftSpans = tokenSpans(ftTok, ftIds);
      const pairs = alignSpans(baseSpans, ftSpans).map(([i, j]) => [i + (hasBos ? 1 : 0), j + (useFtBos ? 1 : 0)] as [number, number]);
      if (hasBos && useFtBos) pairs.push([0, 0]);
      const seq = useFtBos ? [ftBos as number, ...ftIds] : ftIds;
      const ftAct = tf.tidy(() => hookActivations(m.finetune!, tf.tensor2d(seq, [1, seq.length], 'int32'), m.hook, m.layer));
      const vals = ftAct.dataSync() as Float32Array;
      ftAct.dispose();
      for (const [i, j] of pairs) out.set(vals.subarray(j * d, (j + 1) * d), (r * ctx + i) * d);
      aligned += pairs.length;
      total += ids.length;
    }
    writers[1].append(out);
    progress.tick();
  }
  return { aligned, total };
}
