/**
 * Train saelab's InterpBench case-3 model and write it to data/interpbench/3 in InterpBench's file
 * layout (ll_model.pth, ll_model_cfg.pkl, meta.json) with a model card.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/train-case3.js [--steps 400] [--lr 0.003] [--seed 0] [--out data/interpbench/3]
 */
import * as path from 'path';
import { initBackend } from '../lib/backend';
import { saveTransformerLensTorchDir } from '../lib/model/interpbench';
import { CASE3_TOLERANCE, trainCase3Model } from '../lib/tasks';
import { SAELAB_VERSION } from '../lib/version';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const backend = (await initBackend()).kind;
  const steps = Number(arg('steps', '400'));
  const lr = Number(arg('lr', '0.003'));
  const seed = Number(arg('seed', '0'));
  const out = path.resolve(arg('out', path.join(__dirname, '..', '..', 'data', 'interpbench', '3')));
  const t0 = Date.now();
  const { model, accuracy, finalLoss, options } = await trainCase3Model({ steps, lr, seed });
  const seconds = (Date.now() - t0) / 1000;
  const acc = `${(100 * accuracy.accuracy).toFixed(2)}% (${accuracy.correct}/${accuracy.total} readout positions within ${CASE3_TOLERANCE}; max error ${accuracy.maxError.toFixed(4)})`;
  const meta = {
    case: '3', task: 'frac_prevs: running fraction of x tokens', trained_by: `saelab ${SAELAB_VERSION} scripts/train-case3.ts`,
    objective: 'MSE of logits[..., 0] vs (x count among tokens 1..i) / i at positions i >= 1 (PAD excluded), all 320 inputs per step',
    optimizer: 'AdamW (0.9, 0.95), linear warm-up + cosine decay to 5%, clip norm 1.0', ...options, backend,
    final_loss: finalLoss, accuracy: accuracy.accuracy, correct: accuracy.correct, total: accuracy.total, max_error: accuracy.maxError,
    train_seconds: seconds,
  };
  const card = `# InterpBench case 3 layout, trained by saelab

A model with InterpBench case 3's architecture (2 layers, 4 heads, d_head 3, d_model 12, d_mlp 48,
gelu, no LayerNorm, d_vocab 6, d_vocab_out 1, n_ctx 5), trained from scratch by saelab on the case-3
task so the seed-002 notebooks run offline. It is not InterpBench's SIIT-trained model: it was fitted
to the task's outputs only (no interchange-intervention training), so its internal circuit need not
match the tracr program, and there is no \`edges.pkl\` (no ground-truth circuit).

- Task: running fraction of 'x' (tokens BOS=0, PAD=1, a=2, b=3, c=4, x=5), read out at logits[..., 0]
  at positions i >= 1 holding a letter; label = (x among tokens 1..i) / i.
- Accuracy on all 320 inputs: **${acc}**.
- Training: ${options.steps} full-batch steps, lr ${options.lr}, warm-up ${options.warmupSteps}, weight decay ${options.weightDecay}, seed ${options.seed};
  final MSE ${finalLoss.toExponential(3)}; ${seconds.toFixed(0)} s on the ${backend} backend.
- Files: \`ll_model.pth\` (torch.save-compatible state_dict with TransformerLens names, attn.mask/IGNORE
  buffers included, so \`HookedTransformer(cfg).load_state_dict(torch.load(...))\` loads it strictly),
  \`ll_model_cfg.pkl\` (a HookedTransformerConfig dict), \`meta.json\` (training settings and accuracy).
- Load in saelab: \`HookedTransformer.fromPretrained('data/interpbench/3')\` (no weight processing).
- \`saes/blocks.1.hook_resid_pre/\`: the seed's SAE on this model (SAELens folder; \`report.json\` with explained
  variance, L0 and the x-only features; \`features.html\`, a static feature browser), made by
  \`node dist/scripts/train-case3-sae.js\`.
- Regenerate: \`npx tsc -p tsconfig.json && node dist/scripts/train-case3.js\`; check with torch:
  \`/usr/bin/python3 tools/check_interpbench_model.py data/interpbench/3\`.
`;
  await saveTransformerLensTorchDir(model, out, {
    meta, configExtra: { use_split_qkv_input: true, use_hook_mlp_in: true, use_attn_result: true }, extraFiles: { 'README.md': card },
  });
  model.dispose();
  console.log(`wrote ${out}: accuracy ${acc}, ${seconds.toFixed(0)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
