/**
 * `saelab cache`: run a model on given token ids and write the activations at chosen hook points
 * (and the logits) to a safetensors file, for headless and cross-language use.
 */
import * as tf from '@tensorflow/tfjs';
import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { initBackend } from '../../backend';
import { SafetensorsPositionalWriter } from '../../io/safetensorsPositional';
import { HookedTransformer } from '../../model';
import { collectGarbage, collectGarbageOver } from '../../model/memory';
import { hookPointsText, stopAtLayerFor } from '../../model/hookNames';

const USAGE = `usage: saelab cache --model <name-or-dir> [--revision R] --tokens "<ids>;<ids>" --hooks <h1,h2,...> [--no-processing] [--no-logits] --out <file.safetensors>

Runs the model on the token ids and writes, as float32 tensors named by hook name, each requested
hook's activation ([batch, pos, ...] as TransformerLens shapes it) and \`logits\` [batch, pos, d_vocab]
(unless --no-logits). Sequences run in batches; the logits are made and written in chunks, each written
while the next one computes.

options:
  --model <m>        a Hugging Face repo id or a local folder (config.json + model.safetensors)
  --revision <r>     hub revision (branch, tag, commit; e.g. step3000 for Pythia)
  --tokens <ids>     comma-separated token ids used exactly as given (no BOS added);
                     sequences separated by ';', all of equal length
  --hooks <names>    comma-separated hook names (e.g. blocks.0.hook_resid_pre,blocks.0.attn.hook_z)
  --no-processing    load without TransformerLens weight processing (from_pretrained_no_processing)
  --no-logits        do not write the logits (d_vocab floats per token) and stop the forward pass after
                     the last block a hook needs (TransformerLens's stop_at_layer)
  --out <file>       output safetensors file (written atomically)

hook points (blocks.L. for every layer L; which exist depends on the model):
${hookPointsText()}`;

/** Parse "1,2,3;4,5,6" into equal-length rows of non-negative integers. */
export function parseTokenRows(spec: string): number[][] {
  const rows = spec.split(';').map((s) => s.trim()).filter((s) => s.length > 0);
  if (!rows.length) throw new Error('--tokens is empty: give comma-separated ids, sequences separated by \';\'');
  const parsed = rows.map((row, i) => row.split(',').map((x) => {
    const t = x.trim();
    if (!/^\d+$/.test(t)) throw new Error(`--tokens sequence ${i}: '${t}' is not a non-negative integer token id`);
    return Number(t);
  }));
  const len = parsed[0].length;
  parsed.forEach((r, i) => {
    if (r.length !== len) throw new Error(`--tokens sequences must have equal lengths: sequence 0 has ${len} ids, sequence ${i} has ${r.length}`);
  });
  return parsed;
}

/**
 * The stopAtLayer that still runs every hook in `hooks` (the largest of their stopAtLayerFor), or undefined when one
 * needs the whole model (ln_final.*).
 */
export function stopLayerFor(hooks: string[], nLayers: number): number | undefined {
  let stop = 0;
  for (const h of hooks) {
    const s = stopAtLayerFor(h);
    if (s === undefined) return undefined;
    stop = Math.max(stop, s);
  }
  return Math.min(stop, nLayers);
}

/** Floats of logits per unembedding chunk: about 64 MiB, so a chunk is written while the next one computes and at most two are held (tests lower it). */
export const cacheChunking = { logitFloatsPerChunk: 1 << 24 };

export const command: CliCommand = {
  name: 'cache',
  summary: 'run a model on token ids and save hook activations + logits (safetensors)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      model: { type: 'string' }, revision: { type: 'string' }, tokens: { type: 'string' }, hooks: { type: 'string' },
      'no-processing': { type: 'boolean' }, 'no-logits': { type: 'boolean' }, out: { type: 'string' },
    }, USAGE);
    const modelName = required<string>(o.model, 'model', USAGE);
    const rows = parseTokenRows(required<string>(o.tokens, 'tokens', USAGE));
    const hooks = required<string>(o.hooks, 'hooks', USAGE).split(',').map((s) => s.trim()).filter(Boolean);
    if (!hooks.length) throw new Error(`--hooks is empty\n\n${USAGE}`);
    const out = required<string>(o.out, 'out', USAGE);
    const withLogits = !o['no-logits'];
    await initBackend();
    // without logits, the blocks after the last one a hook needs are never loaded (nor run)
    const blocks = withLogits ? undefined : stopLayerFor(hooks, Infinity);
    const model = await HookedTransformer.fromPretrained(modelName, { revision: o.revision, processing: !o['no-processing'], nLayers: blocks });
    // the checkpoint's read buffers and conversion temporaries are garbage now: free them before the outputs grow
    await collectGarbage(0);
    // what the JS buffers may hold before a chunk starts: the model, two chunks of logits and the batch's hooks
    const bufferCap = process.memoryUsage().arrayBuffers + 3 * 4 * cacheChunking.logitFloatsPerChunk;
    let writer: SafetensorsPositionalWriter | undefined;
    try {
      model.resolveCacheNames(hooks); // unknown hook names fail before any work
      const [B, P] = [rows.length, rows[0].length];
      const stopAtLayer = withLogits ? undefined : stopLayerFor(hooks, model.cfg.n_layers);
      // Blocks run on as many sequences as the model's token budget allows (GEMMs with few rows are slower); the logits
      // are then made and written in chunks from the final residual (startAtLayer = n_layers: ln_final and unembed only).
      // A hook after the blocks (ln_final.*) needs the whole pass: then each batch is a chunk of logits.
      const L = model.cfg.n_layers;
      const unembedApart = withLogits && stopLayerFor(hooks, L) !== undefined;
      const finalResid = `blocks.${L - 1}.hook_resid_post`;
      const logitSeqs = Math.max(1, Math.floor(cacheChunking.logitFloatsPerChunk / (P * model.cfg.d_vocab_out)));
      const perBatch = withLogits && !unembedApart ? logitSeqs : Math.max(1, Math.floor((model.maxBatchTokens ?? B * P) / P));
      const meta: Record<string, string> = { model: modelName, processing: String(!o['no-processing']) };
      if (o.revision) meta.revision = o.revision;
      if (model.source?.commit) meta.commit = model.source.commit;
      let inFlight: Array<Promise<void>> = [];
      // the header needs every tensor's full shape: [B, ...] from the first batch's [n, ...]
      const openWriter = (parts: Array<{ name: string; shape: number[] }>) =>
        new SafetensorsPositionalWriter(out, parts.map(({ name, shape }) => ({ name, dtype: 'F32' as const, shape: [B, ...shape.slice(1)] })), meta);
      // the previous chunk's writes finish before this chunk's start (at most two chunks of output in memory)
      const write = async (parts: Array<{ name: string; t: tf.Tensor }>, r0: number, n: number) => {
        await Promise.all(inFlight);
        inFlight = parts.map(({ name, t }) => writer!.write(name, r0 * (t.size / n), t.dataSync() as Float32Array));
      };
      for (let r0 = 0; r0 < B; r0 += perBatch) {
        const n = Math.min(perBatch, B - r0);
        const tokens = tf.tensor2d(rows.slice(r0, r0 + n), [n, P], 'int32');
        try {
          const names = unembedApart && !hooks.includes(finalResid) ? [...hooks, finalResid] : hooks;
          const res = model.runWithCache(tokens, {
            namesFilter: names, stopAtLayer, returnType: withLogits && !unembedApart ? 'logits' : 'none', maxBatchTokens: n * P,
          });
          try {
            const parts: Array<{ name: string; t: tf.Tensor }> = hooks.map((name) => ({ name, t: res.cache.get(name) }));
            if (withLogits && !unembedApart) parts.push({ name: 'logits', t: res.logits as tf.Tensor });
            writer ??= openWriter([...parts.map(({ name, t }) => ({ name, shape: t.shape })), ...(unembedApart ? [{ name: 'logits', shape: [n, P, model.cfg.d_vocab_out] }] : [])]);
            await write(parts, r0, n);
            if (unembedApart) {
              const resid = res.cache.get(finalResid);
              for (let c0 = 0; c0 < n; c0 += logitSeqs) {
                const m = Math.min(logitSeqs, n - c0);
                collectGarbageOver(bufferCap); // dead chunks of logits are otherwise collected late (about 50 MB each)
                const [tk, rk] = tf.tidy(() => [tf.slice(tokens, [c0, 0], [m, P]), tf.slice(resid, [c0, 0, 0], [m, P, -1])]);
                let logits: tf.Tensor;
                try {
                  logits = model.runWithCache(tk, { namesFilter: [], startAtLayer: L, residual: rk, returnType: 'logits', maxBatchTokens: m * P }).logits as tf.Tensor;
                } finally {
                  tf.dispose([tk, rk]);
                }
                await write([{ name: 'logits', t: logits }], r0 + c0, m);
                logits.dispose();
              }
            }
          } finally {
            res.cache.dispose();
            res.logits?.dispose();
          }
        } finally {
          tokens.dispose();
        }
      }
      await Promise.all(inFlight);
      await writer!.close();
    } catch (e) {
      await writer?.abort();
      throw e;
    } finally {
      model.dispose();
    }
    console.log(`wrote ${hooks.length} hook(s)${withLogits ? ' + logits' : ''} for ${rows.length} x ${rows[0].length} tokens to ${out}`);
    return 0;
  },
};
