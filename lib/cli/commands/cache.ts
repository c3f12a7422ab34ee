/**
 * `saelab cache`: run a model on given token ids and write the activations at chosen hook points
 * (and the logits) to a safetensors file, for headless and cross-language use.
 */
import * as tf from '@tensorflow/tfjs';
import { CliCommand } from '../types';
import { parseOptions, required } from '../args';
import { initBackend } from '../../backend';
import { writeSafetensors, TensorToWrite } from '../../io/safetensors';
import { HookedTransformer } from '../../model';
import { hookPointsText } from '../../model/hookNames';

const USAGE = `usage: saelab cache --model <name-or-dir> [--revision R] --tokens "<ids>;<ids>" --hooks <h1,h2,...> [--no-processing] --out <file.safetensors>

Runs the model on the token ids and writes, as float32 tensors named by hook name, each requested
hook's activation ([batch, pos, ...] as TransformerLens shapes it) and \`logits\` [batch, pos, d_vocab].

options:
  --model <m>        a Hugging Face repo id or a local folder (config.json + model.safetensors)
  --revision <r>     hub revision (branch, tag, commit; e.g. step3000 for Pythia)
  --tokens <ids>     comma-separated token ids used exactly as given (no BOS added);
                     sequences separated by ';', all of equal length
  --hooks <names>    comma-separated hook names (e.g. blocks.0.hook_resid_pre,blocks.0.attn.hook_z)
  --no-processing    load without TransformerLens weight processing (from_pretrained_no_processing)
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

export const command: CliCommand = {
  name: 'cache',
  summary: 'run a model on token ids and save hook activations + logits (safetensors)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      model: { type: 'string' }, revision: { type: 'string' }, tokens: { type: 'string' }, hooks: { type: 'string' },
      'no-processing': { type: 'boolean' }, out: { type: 'string' },
    }, USAGE);
    const modelName = required<string>(o.model, 'model', USAGE);
    const rows = parseTokenRows(required<string>(o.tokens, 'tokens', USAGE));
    const hooks = required<string>(o.hooks, 'hooks', USAGE).split(',').map((s) => s.trim()).filter(Boolean);
    if (!hooks.length) throw new Error(`--hooks is empty\n\n${USAGE}`);
    const out = required<string>(o.out, 'out', USAGE);
    await initBackend();
    const model = await HookedTransformer.fromPretrained(modelName, { revision: o.revision, processing: !o['no-processing'] });
    const tokens = tf.tensor2d(rows, undefined, 'int32');
    try {
      const { logits, cache } = model.runWithCache(tokens, { namesFilter: hooks });
      try {
        const tensors: Record<string, TensorToWrite> = {};
        for (const name of hooks) {
          const t = cache.get(name);
          tensors[name] = { dtype: 'F32', shape: t.shape, data: t.dataSync() as Float32Array };
        }
        const l = logits as tf.Tensor;
        tensors.logits = { dtype: 'F32', shape: l.shape, data: l.dataSync() as Float32Array };
        const meta: Record<string, string> = { model: modelName, processing: String(!o['no-processing']) };
        if (o.revision) meta.revision = o.revision;
        if (model.source?.commit) meta.commit = model.source.commit;
        writeSafetensors(out, tensors, meta);
      } finally {
        cache.dispose();
        logits?.dispose();
      }
    } finally {
      tokens.dispose();
      model.dispose();
    }
    console.log(`wrote ${hooks.length} hook(s) + logits for ${rows.length} x ${rows[0].length} tokens to ${out}`);
    return 0;
  },
};
