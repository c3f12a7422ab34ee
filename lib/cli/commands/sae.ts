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
import { SafetensorsFile, rawToFloat32, writeSafetensors } from '../../io/safetensors';
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
  --batch <rows>      rows per step (default 4096)`;

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
    const batch = parseIntegerArg(o.batch, 'batch', { min: 1, dflt: 4096 });
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
      const feats = new Float32Array(rows * sae.cfg.d_sae);
      const outWidth = sae.isTranscoder ? sae.dOut : rowWidth;
      const recon = new Float32Array(rows * outWidth);
      for (let r0 = 0; r0 < rows; r0 += batch) {
        const n = Math.min(batch, rows - r0);
        const x = tf.tensor(data.subarray(r0 * rowWidth, (r0 + n) * rowWidth), [n, ...rowShape], 'float32');
        const res = sae.run(x);
        feats.set(await res.featureActs.data() as Float32Array, r0 * sae.cfg.d_sae);
        recon.set(await res.saeOut.data() as Float32Array, r0 * outWidth);
        tf.dispose([x, res.featureActs, res.saeOut]);
      }
      const lead = shape.slice(0, shape.length - inner);
      const outShape = sae.isTranscoder ? [...lead, sae.dOut] : shape;
      const meta: Record<string, string> = { sae: spec, hook_name: sae.cfg.metadata.hook_name, source: `${input}:${name}` };
      if (sae.isTranscoder && typeof sae.cfg.metadata.hook_name_out === 'string') meta.hook_name_out = sae.cfg.metadata.hook_name_out;
      writeSafetensors(out, {
        feature_acts: { dtype: 'F32', shape: [...lead, sae.cfg.d_sae], data: feats },
        sae_out: { dtype: 'F32', shape: outShape, data: recon },
      }, meta);
      console.log(`wrote ${out}: feature_acts [${[...lead, sae.cfg.d_sae].join(', ')}], sae_out [${outShape.join(', ')}] (${rows} rows)`);
      return 0;
    } finally {
      sae.dispose();
    }
  },
};
