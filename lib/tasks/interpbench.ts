/**
 * InterpBench case 3 (seed 002): the running fraction of 'x' tokens (tracr's frac_prevs).
 *
 * Vocabulary BOS=0, PAD=1, a=2, b=3, c=4, x=5. The 320 inputs are 64 sequences of BOS + 3 tokens
 * then PAD, followed by 256 of BOS + 4 tokens, each set in base-4 order over a < b < c < x (the last
 * token varies fastest). The model is read out at logits[..., 0] (d_vocab_out 1) at every position
 * i >= 1 holding a token (not PAD); the label there is (number of x among tokens 1..i) / i, and a
 * prediction is accurate when |prediction - label| < 0.05.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ResolveOptions, resolveRepo } from '../hub/resolve';
import { SAELAB_ROOT } from '../version';

/** Token ids of case 3 (InterpBench's tracr input encoding; UNK shares id 1 with PAD). */
export const CASE3_VOCAB: Readonly<Record<string, number>> = Object.freeze({ BOS: 0, PAD: 1, a: 2, b: 3, c: 4, x: 5 });
/** id -> token string */
export const CASE3_TOKENS: readonly string[] = ['BOS', 'PAD', 'a', 'b', 'c', 'x'];
/** the letters, in the order the inputs enumerate them */
export const CASE3_LETTERS: readonly string[] = ['a', 'b', 'c', 'x'];
/** sequence length of every input (BOS + up to 4 tokens) */
export const CASE3_SEQ_LEN = 5;
/** a prediction counts as accurate when it is within this distance of the label */
export const CASE3_TOLERANCE = 0.05;

const BOS = 0;
const PAD = 1;
const X = 5;

/** The 320 inputs as token ids [320, 5]: 64 of length 3 (+PAD), then 256 of length 4, each in base-4 order. */
export function case3Inputs(): number[][] {
  const out: number[][] = [];
  for (const len of [3, 4]) {
    const count = 4 ** len;
    for (let n = 0; n < count; n++) {
      const seq = [BOS];
      for (let k = len - 1; k >= 0; k--) seq.push(2 + (Math.floor(n / 4 ** k) % 4));
      while (seq.length < CASE3_SEQ_LEN) seq.push(PAD);
      out.push(seq);
    }
  }
  return out;
}

/** Token ids -> token strings (['BOS', 'a', 'a', 'x', 'PAD']). */
export function case3Decode(ids: readonly number[]): string[] {
  return ids.map((id) => {
    const t = CASE3_TOKENS[id];
    if (t === undefined) throw new Error(`case 3: token id ${id} is outside the vocabulary 0..${CASE3_TOKENS.length - 1}`);
    return t;
  });
}

/** Token strings (or one space-separated string) -> ids; 'UNK' maps to PAD's id 1 as in InterpBench. */
export function case3Encode(tokens: string | readonly string[]): number[] {
  const list = typeof tokens === 'string' ? tokens.trim().split(/\s+/).filter(Boolean) : tokens;
  return list.map((t) => {
    if (t === 'UNK') return PAD;
    const id = CASE3_VOCAB[t];
    if (id === undefined) throw new Error(`case 3: unknown token '${t}' (vocabulary: ${CASE3_TOKENS.join(', ')})`);
    return id;
  });
}

/** A word-level tokenizer for the case-3 vocabulary (encode splits on whitespace, adds no BOS). */
export function case3Tokenizer(): { encode(text: string): number[]; decode(ids: number[]): string; bosTokenId: number; padTokenId: number } {
  return { encode: (text) => case3Encode(text), decode: (ids) => case3Decode(ids).join(' '), bosTokenId: BOS, padTokenId: PAD };
}

/**
 * Labels and readout mask for token sequences [batch, pos]: at a position i >= 1 holding a letter,
 * label = (x count among tokens 1..i) / i and mask = 1; at BOS, PAD (and after PAD) mask = 0, label = 0.
 */
export function case3Labels(tokens: readonly (readonly number[])[]): { labels: Float32Array; mask: Float32Array; shape: [number, number] } {
  const batch = tokens.length;
  const pos = batch ? tokens[0].length : 0;
  const labels = new Float32Array(batch * pos);
  const mask = new Float32Array(batch * pos);
  tokens.forEach((seq, b) => {
    if (seq.length !== pos) throw new Error(`case 3: sequence ${b} has ${seq.length} tokens, expected ${pos} like the first`);
    let xs = 0;
    for (let i = 1; i < pos; i++) {
      const t = seq[i];
      if (t === PAD || t === BOS) break;
      if (t === X) xs++;
      labels[b * pos + i] = xs / i;
      mask[b * pos + i] = 1;
    }
  });
  return { labels, mask, shape: [batch, pos] };
}

/** Readout predictions logits[..., 0] as [batch, pos]. */
export function case3Readout(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => tf.squeeze(tf.slice(logits, [0, 0, 0], [-1, -1, 1]), [2]) as tf.Tensor2D);
}

/** Share of readout positions (i >= 1, not PAD) where |logits[..., 0] - label| < 0.05. logits: [batch, pos, d_vocab_out]. */
export async function case3Accuracy(logits: tf.Tensor3D, tokens: readonly (readonly number[])[] = case3Inputs()): Promise<{ accuracy: number; correct: number; total: number; maxError: number }> {
  const { labels, mask, shape } = case3Labels(tokens);
  if (logits.shape[0] !== shape[0] || logits.shape[1] !== shape[1]) throw new Error(`case 3: logits have shape [${logits.shape}], tokens are [${shape}]`);
  const [correct, total, maxError] = tf.tidy(() => {
    const err = tf.abs(tf.sub(case3Readout(logits), tf.tensor2d(labels, shape)));
    const m = tf.tensor2d(mask, shape);
    const ok = tf.mul(tf.cast(tf.less(err, CASE3_TOLERANCE), 'float32'), m);
    return [tf.sum(ok), tf.sum(m), tf.max(tf.mul(err, m))];
  });
  const [c, t, e] = await Promise.all([correct.data(), total.data(), maxError.data()]);
  correct.dispose(); total.dispose(); maxError.dispose();
  return { accuracy: t[0] ? c[0] / t[0] : 0, correct: c[0], total: t[0], maxError: e[0] };
}

/** Mean squared error of logits[..., 0] against the labels over readout positions (a training loss). */
export function case3Mse(logits: tf.Tensor3D, labels: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const diff = tf.mul(tf.sub(case3Readout(logits), labels), mask);
    return tf.div(tf.sum(tf.square(diff)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/** The hub repo InterpBench publishes its models in (one folder per case). */
export const INTERPBENCH_REPO = 'cybershiptrooper/InterpBench';

/** saelab's own case-3 model, shipped in InterpBench's layout (trained by scripts/train-case3.ts). */
export function shippedCase3Dir(): string {
  return path.join(SAELAB_ROOT, 'data', 'interpbench', '3');
}

/**
 * A local folder holding an InterpBench case's `ll_model.pth` + `ll_model_cfg.pkl` (and meta.json /
 * edges.pkl when published), from the hub cache or downloaded into it; pass the result to
 * HookedTransformer.fromPretrained. Options as lib/hub's resolveRepo (revision, cacheDir, offline, ...).
 */
export async function interpBenchCaseDir(caseId: string | number, opts: ResolveOptions = {}): Promise<string> {
  const id = String(caseId);
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`InterpBench case id '${id}' must be a folder name like 3 or ioi`);
  const r = await resolveRepo(INTERPBENCH_REPO, {
    ...opts,
    files: [`${id}/ll_model.pth`, `${id}/ll_model_cfg.pkl`],
    optionalFiles: [`${id}/meta.json`, `${id}/edges.pkl`],
  });
  return path.join(r.dir, id);
}

/** One readout position: its label, the model's prediction and its position in the sequence. */
export interface Case3Prediction {
  label: number;
  prediction: number;
  position: number;
}

/** Every readout position's prediction against its label (positions the task scores). */
export async function case3Predictions(logits: tf.Tensor3D, tokens: readonly (readonly number[])[] = case3Inputs()): Promise<Case3Prediction[]> {
  const { labels, mask } = case3Labels(tokens);
  const readout = case3Readout(logits);
  const preds = await readout.data();
  readout.dispose();
  const out: Case3Prediction[] = [];
  for (let i = 0; i < labels.length; i++) if (mask[i]) out.push({ label: labels[i], prediction: preds[i], position: i % CASE3_SEQ_LEN });
  return out;
}

/** Scatter of prediction against label, coloured by position: a model that solves the task keeps every point on the diagonal. */
export function case3PredictionSpec(points: Case3Prediction[]): Record<string, unknown> {
  return {
    title: 'prediction vs label at every readout position', width: 320, height: 320, data: { values: points },
    mark: { type: 'point', filled: true, opacity: 0.5 },
    encoding: { x: { field: 'label', type: 'quantitative' }, y: { field: 'prediction', type: 'quantitative' }, color: { field: 'position', type: 'ordinal' } },
  };
}
