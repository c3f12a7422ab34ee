/**
 * `saelab sae`: run an SAE over activations stored in a safetensors file and write its feature
 * activations and reconstruction.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { CliCommand } from '../types';
import { parseIntegerArg, parseOptions, required } from '../args';
import { ArgumentError } from '../../io/errors';
import { initBackend } from '../../backend';
import { SafetensorsFile, rawToFloat32 } from '../../io/safetensors';
import { SafetensorsPositionalWriter } from '../../io/safetensorsPositional';
import { assertFinite } from '../../io/finite';
import { loadSAEFromSpec } from '../../circuits/load';

const USAGE = `usage: saelab sae --sae <release:saeId | folder> --in <file.safetensors> --tensor <name> --out <file.safetensors>

Runs an SAE over the activations in one tensor of a safetensors file ([..., d_in], or
[..., n_heads, d_head] for hook_z SAEs) and writes, as float32:
  feature_acts  [..., d_sae]
  sae_out       same shape as the input; for a transcoder (transcoder, skip_transcoder,
                jumprelu_transcoder) its prediction of the output hook, [..., d_out], skip term included

options:
  --sae <spec>        a SAELens release and SAE id (gpt2-small-res-jb:blocks.8.hook_resid_pre),
                      owner/repo:folder, or a local SAE folder
  --in <file>         input safetensors file
  --tensor <name>     tensor to read from --in
  --out <file>        output safetensors file (written atomically)
  --repo-id <id>      Gemma Scope folders: the repo id telling model and hook (e.g. google/gemma-scope-2b-pt-res)
  --batch <rows>      rows per step (default 1024); each step's output is written while the next computes`;

export const command: CliCommand = {
  name: 'sae',
  summary: 'encode activations from a safetensors file with an SAE (feature_acts, sae_out)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      sae: { type: 'string' }, in: { type: 'string' }, tensor: { type: 'string' }, out: { type: 'string' },
      'repo-id': { type: 'string' }, batch: { type: 'string' },
    }, USAGE);
    const spec = required<string>(o.sae, 'sae', USAGE);
    const input = required<string>(o.in, 'in', USAGE);
    const name = required<string>(o.tensor, 'tensor', USAGE);
    const out = required<string>(o.out, 'out', USAGE);
    const batch = parseIntegerArg(o.batch, 'batch', { min: 1, dflt: 1024 });
    if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new ArgumentError(`--out ${out} is a folder; give the output safetensors file's path`);
    await initBackend();
    const sae = await loadSAEFromSpec(spec, o['repo-id']);
    try {
      const file = SafetensorsFile.open(input);
      let data: Float32Array;
      let shape: number[];
      try {
        if (!file.has(name)) throw new Error(`${input}: no tensor '${name}' (found: ${file.names().join(', ')})`);
        shape = file.info(name).shape;
        const raw = file.readRaw(name);
        assertFinite(raw, `${input}:${name}`, 'activations must be finite');
        data = rawToFloat32(raw);
      } finally {
        file.close();
      }
      const inner = sae.readsHookZ ? 2 : 1;
      if (shape.length < inner) throw new Error(`${input}:${name} has shape [${shape.join(', ')}], too few dimensions for this SAE`);
      const rowShape = shape.slice(shape.length - inner);
      const rowWidth = rowShape.reduce((a, d) => a * d, 1);
      if (rowWidth !== sae.cfg.d_in) {
        throw new Error(`${input}:${name} rows have width ${rowWidth} (shape [${shape.join(', ')}]) but the SAE (${sae.cfg.metadata.hook_name}) has d_in=${sae.cfg.d_in}`);
      }
      const rows = data.length / rowWidth;
      const lead = shape.slice(0, shape.length - inner);
      const dSae = sae.cfg.d_sae;
      const outWidth = sae.isTranscoder ? sae.dOut : rowWidth;
      const outShape = sae.isTranscoder ? [...lead, sae.dOut] : shape;
      const meta: Record<string, string> = { sae: spec, hook_name: sae.cfg.metadata.hook_name, source: `${input}:${name}` };
      if (sae.isTranscoder && typeof sae.cfg.metadata.hook_name_out === 'string') meta.hook_name_out = sae.cfg.metadata.hook_name_out;
      const writer = new SafetensorsPositionalWriter(out, [
        { name: 'feature_acts', dtype: 'F32', shape: [...lead, dSae] },
        { name: 'sae_out', dtype: 'F32', shape: outShape },
      ], meta);
      try {
        let inFlight: Array<Promise<void>> = [];
        for (let r0 = 0; r0 < rows; r0 += batch) {
          const n = Math.min(batch, rows - r0);
          const x = tf.tensor(data.subarray(r0 * rowWidth, (r0 + n) * rowWidth), [n, ...rowShape], 'float32');
          const res = sae.run(x);
          // the previous batch's output finishes writing before this one's starts (two batches in memory at most)
          await Promise.all(inFlight);
          inFlight = [
            writer.write('feature_acts', r0 * dSae, res.featureActs.dataSync() as Float32Array),
            writer.write('sae_out', r0 * outWidth, res.saeOut.dataSync() as Float32Array),
          ];
          tf.dispose([x, res.featureActs, res.saeOut]);
        }
        await writer.close();
      } catch (e) {
        await writer.abort();
        throw e;
      }
      console.log(`wrote ${out}: feature_acts [${[...lead, dSae].join(', ')}], sae_out [${outShape.join(', ')}] (${rows} rows)`);
      return 0;
    } finally {
      sae.dispose();
    }
  },
};
