/**
 * `saelab attribute`: node attribution of sparse feature circuits (atp, ig or exact patching) at
 * every SAE hook, for clean/patch prompt pairs.
 */
import { CliCommand } from '../types';
import { parseIntegerArg, parseOptions, required } from '../args';
import { initBackend } from '../../backend';
import { writeSafetensors, TensorToWrite } from '../../io/safetensors';
import { ATTRIBUTION_METHODS, AttributionMethod, attributeNodes } from '../../circuits/attribution';
import { parseTokenList } from '../../circuits/common';
import { loadModelAndSAEs, parseSaeArg } from '../../circuits/load';
import { parseIdList } from './ablate';

const USAGE = `usage: saelab attribute --model DIR --sae <hook>=<saeDir> [--sae ...] --clean "<ids>;..." --patch "<ids>;..."
                        --clean-answer a[,..] --patch-answer b[,..] --method atp|ig|exact [--steps 10] --out O.safetensors

Metric per example m = logit[last, patch_answer] - logit[last, clean_answer]. At each SAE hook,
f = encode(x) and e = x - decode(f) from unmodified clean and patch runs; the effect of every feature
(and of the error node) on m by:
  atp    gradient on the clean run with every SAE spliced as decode(f) + e, times (patch - clean)
  ig     one hook at a time, mean gradient over (f, e) = (1 - a) clean + a patch, a = k/steps, times (patch - clean)
  exact  one hook at a time, patch one feature (or error node) into decode(f_clean) + e_clean: m - m_clean
Writes (float32):
  effects.<hook>  [N, T, d_sae + 1]  (last channel: the error node)
  nodes.<hook>    [d_sae + 1]        (sum over positions, then mean over examples)
  metric_clean    [N]
  metric_patch    [N]

options:
  --model DIR            model folder (or hub name)
  --sae <hook>=<dir>     an SAE and the hook it reads (repeat for every hook)
  --clean "<ids>;..."    clean prompts (ids separated by spaces or commas), all of one length
  --patch "<ids>;..."    patch prompts, the same shape as --clean
  --clean-answer a[,..]  answer token id(s): one for all prompts or one per prompt
  --patch-answer b[,..]  answer token id(s) of the patch prompts
  --method M             atp, ig or exact
  --steps N              ig interpolation steps (default 10)
  --out FILE             output safetensors file (written atomically)`;

function answers(text: string, flag: string, N: number): number[] {
  const ids = parseIdList(text, flag);
  if (ids.length === 1) return new Array(N).fill(ids[0]);
  if (ids.length !== N) throw new Error(`--${flag}: ${ids.length} ids for ${N} prompts; give one id for all or one per prompt`);
  return ids;
}

export const command: CliCommand = {
  name: 'attribute',
  summary: 'sparse-feature-circuit node attribution (atp / ig / exact) at every SAE hook',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      model: { type: 'string' }, sae: { type: 'string', multiple: true }, clean: { type: 'string' }, patch: { type: 'string' },
      'clean-answer': { type: 'string' }, 'patch-answer': { type: 'string' }, method: { type: 'string' }, steps: { type: 'string' },
      out: { type: 'string' },
    }, USAGE);
    const modelDir = required<string>(o.model, 'model', USAGE);
    const saeArgs = (o.sae ?? []) as string[];
    if (!saeArgs.length) throw new Error(`missing required option --sae\n\n${USAGE}`);
    const clean = parseTokenList(required<string>(o.clean, 'clean', USAGE), '--clean');
    const patch = parseTokenList(required<string>(o.patch, 'patch', USAGE), '--patch');
    const N = clean.length;
    const cleanAnswers = answers(required<string>(o['clean-answer'], 'clean-answer', USAGE), 'clean-answer', N);
    const patchAnswers = answers(required<string>(o['patch-answer'], 'patch-answer', USAGE), 'patch-answer', N);
    const method = required<string>(o.method, 'method', USAGE) as AttributionMethod;
    if (!ATTRIBUTION_METHODS.includes(method)) throw new Error(`--method must be one of ${ATTRIBUTION_METHODS.join(', ')}, got '${method}'`);
    const steps = parseIntegerArg(o.steps, 'steps', { min: 1, dflt: 10 });
    const out = required<string>(o.out, 'out', USAGE);
    await initBackend();
    const { model, saes } = await loadModelAndSAEs(modelDir, saeArgs.map(parseSaeArg));
    try {
      const r = await attributeNodes(model, saes, { clean, patch, cleanAnswers, patchAnswers }, { method, steps });
      const tensors: Record<string, TensorToWrite> = {};
      for (const h of r.hooks) {
        const a = r.byHook.get(h)!;
        tensors[`effects.${h}`] = { dtype: 'F32', shape: [r.N, r.T, a.dSae + 1], data: a.effects };
        tensors[`nodes.${h}`] = { dtype: 'F32', shape: [a.dSae + 1], data: a.nodes };
      }
      tensors.metric_clean = { dtype: 'F32', shape: [r.N], data: r.metricClean };
      tensors.metric_patch = { dtype: 'F32', shape: [r.N], data: r.metricPatch };
      writeSafetensors(out, tensors, { method, steps: String(steps), hooks: r.hooks.join(',') });
      console.log(`wrote ${out}: ${method} effects at ${r.hooks.length} hooks for ${r.N} prompt pairs of ${r.T} tokens`);
      return 0;
    } finally {
      for (const s of saes.values()) s.dispose();
      model.dispose();
    }
  },
};
