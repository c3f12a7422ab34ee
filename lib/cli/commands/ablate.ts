/**
 * `saelab ablate`: effects of zero-ablating SAE features at one hook on the next SAE's features
 * and on next-token log-probabilities (seed 003, corrected).
 */
import { CliCommand } from '../types';
import { parseIntegerArg, parseOptions, required } from '../args';
import { ArgumentError } from '../../io/errors';
import { initBackend } from '../../backend';
import { writeSafetensors } from '../../io/safetensors';
import { ablationEffects } from '../../circuits/ablation';
import { parseTokenList, tokensTensor } from '../../circuits/common';
import { loadModelAndSAEs, parseSaeArg } from '../../circuits/load';

const USAGE = `usage: saelab ablate --model DIR --sae <hook>=<saeDir> [--sae ...] --tokens "<ids>;<ids>..."
                     --layer-hook A --downstream-hook B --features j1,j2,... --out O.safetensors

For each feature j at hook A, at every position: x_A <- x_A + decode_A(f with f_j = 0) - decode_A(f),
f = encode_A(x_A) (only A is modified; the SAE at B only reads). Effects are ablated minus clean at the
last position, averaged over the sequences. Writes (float32, rows in --features order):
  feature_effects.<B>  [n_features, d_sae_B]
  logprob_effects      [n_features, d_vocab]

options:
  --model DIR             model folder (or hub name)
  --sae <hook>=<dir>      an SAE and the hook it reads; give at least A and B
  --tokens "<ids>;..."    token sequences, ids separated by spaces or commas, all of one length
  --layer-hook A          hook whose SAE features are ablated
  --downstream-hook B     hook whose SAE features are read (after A)
  --features j1,j2,...    feature ids at A
  --features-per-pass N   a forward pass holds at most N x (sequences) ablated rows (default 8)
  --out FILE              output safetensors file (written atomically)`;

/** "1,2,3" -> [1, 2, 3] (non-negative integers), or an Error naming the flag. */
export function parseIdList(text: string, flag: string): number[] {
  const ids = text.split(',').map((s) => s.trim()).filter((s) => s.length);
  if (!ids.length) throw new Error(`--${flag}: no ids in '${text}'`);
  return ids.map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new ArgumentError(`--${flag}: '${s}' is not a non-negative integer`);
    return Number(s);
  });
}

export const command: CliCommand = {
  name: 'ablate',
  summary: 'SAE feature ablation effects on downstream features and log-probs (feature_effects, logprob_effects)',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      model: { type: 'string' }, sae: { type: 'string', multiple: true }, tokens: { type: 'string' },
      'layer-hook': { type: 'string' }, 'downstream-hook': { type: 'string' }, features: { type: 'string' },
      'features-per-pass': { type: 'string' }, out: { type: 'string' },
    }, USAGE);
    const modelDir = required<string>(o.model, 'model', USAGE);
    const saeArgs = (o.sae ?? []) as string[];
    if (!saeArgs.length) throw new Error(`missing required option --sae\n\n${USAGE}`);
    const rows = parseTokenList(required<string>(o.tokens, 'tokens', USAGE), '--tokens');
    const layerHook = required<string>(o['layer-hook'], 'layer-hook', USAGE);
    const downstreamHook = required<string>(o['downstream-hook'], 'downstream-hook', USAGE);
    const features = parseIdList(required<string>(o.features, 'features', USAGE), 'features');
    const out = required<string>(o.out, 'out', USAGE);
    const per = parseIntegerArg(o['features-per-pass'], 'features-per-pass', { min: 1, dflt: 8 });
    await initBackend();
    const { model, saes } = await loadModelAndSAEs(modelDir, saeArgs.map(parseSaeArg));
    const tokens = tokensTensor(rows);
    try {
      const r = await ablationEffects(model, saes, tokens, { layerHook, downstreamHook, features, featuresPerPass: per });
      writeSafetensors(out, {
        [`feature_effects.${downstreamHook}`]: { dtype: 'F32', shape: [features.length, r.dSaeDownstream], data: r.featureEffects },
        logprob_effects: { dtype: 'F32', shape: [features.length, r.dVocab], data: r.logprobEffects },
      }, { layer_hook: layerHook, downstream_hook: downstreamHook, features: features.join(','), n_sequences: String(rows.length) });
      console.log(`wrote ${out}: feature_effects.${downstreamHook} [${features.length}, ${r.dSaeDownstream}], logprob_effects [${features.length}, ${r.dVocab}] over ${rows.length} sequences`);
      return 0;
    } finally {
      tokens.dispose();
      for (const s of saes.values()) s.dispose();
      model.dispose();
    }
  },
};
