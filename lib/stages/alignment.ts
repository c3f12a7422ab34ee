import * as tf from '@tensorflow/tfjs';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { ProgressReporter } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { Tokenizer } from '../tokenizers/tokenizer';
import { PipelineModels, hookActivations, tokenBatches } from './common';
import { alignByText } from '../analysis/alignment';
import { HookedTransformer } from '../model/hookedTransformer';

/**
 * Each token's text within decode(ids), by prefix decoding (a byte-level token can hold part of a UTF-8
 * character, so decoding tokens one by one would not spell the text).
 */
export function tokenPieces(tok: Tokenizer, ids: number[]): string[] {
  const pieces: string[] = [];
  let stable = '';
  for (let k = 1; k <= ids.length; k++) {
    const text = tok.decode(ids.slice(0, k));
    // a trailing U+FFFD is an incomplete character that a later token may complete: not final yet
    let end = text.length;
    if (k < ids.length) while (end > 0 && text[end - 1] === '\uFFFD') end--;
    const cur = text.slice(0, end);
    if (cur.startsWith(stable)) {
      pieces.push(cur.slice(stable.length));
      stable = cur;
    } else {
      pieces.push('');
    }
  }
  return pieces;
}

/**
 * Trim token pieces in place so they spell exactly the first `length` characters (the finetune's
 * context can end earlier than the base's). Returns the index of a piece that was cut short, or -1.
 */
export function cutToLength(pieces: string[], length: number): number {
  let pos = 0;
  let cut = -1;
  for (let i = 0; i < pieces.length; i++) {
    const end = pos + pieces[i].length;
    if (pos >= length) pieces[i] = '';
    else if (end > length) { pieces[i] = pieces[i].slice(0, length - pos); cut = i; }
    pos = end;
  }
  return cut;
}

/**
 * tokenAlignment "text", the finetune's part (the base has already written its activations on its own
 * contexts): each context's text is re-tokenized with the finetune's tokenizer and run through the
 * finetune; finetune activations are written at the base positions whose token text is identical in
 * both tokenizations (BOS aligned with BOS), NaN elsewhere.
 */
export async function collectAlignedActivations(m: PipelineModels, finetune: HookedTransformer, tokens: Int32Array, ctx: number, batchSize: number, writer: SafetensorsStreamWriter, progress: ProgressReporter): Promise<{ aligned: number; total: number }> {
  const baseTok = m.tokenizer;
  const ftTok = m.finetuneTokenizer;
  if (!ftTok) throw new Error('tokenAlignment "text" needs the finetune\'s tokenizer');
  const bos = baseTok.bosTokenId;
  const ftBos = ftTok.bosTokenId;
  const d = m.dModel;
  let aligned = 0;
  let total = 0;
  const stopPoint = interruptible('activations (text-aligned)');
  for (const b of tokenBatches(tokens, ctx, batchSize)) {
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
      const bp = tokenPieces(baseTok, body);
      const fp = tokenPieces(ftTok, ftIds);
      const common = Math.min(bp.join('').length, fp.join('').length);
      const cutB = cutToLength(bp, common);
      const cutF = cutToLength(fp, common);
      const al = alignByText(bp, fp);
      const pairs: Array<[number, number]> = [];
      al.baseIndex.forEach((i, k) => {
        const j = al.finetuneIndex[k];
        if (i !== cutB && j !== cutF && bp[i] !== '' && fp[j] !== '') pairs.push([i + (hasBos ? 1 : 0), j + (useFtBos ? 1 : 0)]);
      });
      if (hasBos && useFtBos) pairs.push([0, 0]);
      const seq = useFtBos ? [ftBos as number, ...ftIds] : ftIds;
      const ftAct = tf.tidy(() => hookActivations(finetune, tf.tensor2d(seq, [1, seq.length], 'int32'), m.hook, m.layer));
      const vals = ftAct.dataSync() as Float32Array;
      ftAct.dispose();
      for (const [i, j] of pairs) out.set(vals.subarray(j * d, (j + 1) * d), (r * ctx + i) * d);
      aligned += pairs.length;
      total += ids.length;
    }
    writer.append(out);
    progress.tick();
    await stopPoint();
  }
  return { aligned, total };
}
