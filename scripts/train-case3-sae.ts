/**
 * Seed 002: train the seed's SAE on the shipped case-3 model's residual stream and write it (SAELens
 * folder layout) with a report and a static feature browser next to it.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/train-case3-sae.js [--hook blocks.1.hook_resid_pre] [--tokens 1500000]
 *
 * Output: data/interpbench/3/saes/<hook>/ (cfg.json, sae_weights.safetensors, sparsity.safetensors,
 * report.json, features.html); training metrics and checkpoints under runs/case3-sae/<hook>/.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { writeJsonAtomic } from '../lib/io/atomic';
import { HookedTransformer } from '../lib/model';
import { topActivatingExamples, writeFeatureBrowserHtml } from '../lib/features';
import { CASE3_TOKENS, case3Activations, case3SaeConfig, shippedCase3Dir, tokenFeatureCorrelation, tokenSelectiveFeatures, trainCase3Sae } from '../lib/tasks';
import { SAELAB_ROOT } from '../lib/version';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const backend = (await initBackend()).kind;
  const hook = arg('hook', 'blocks.1.hook_resid_pre');
  const trainingTokens = Number(arg('tokens', '1500000'));
  const saeDir = path.join(shippedCase3Dir(), 'saes', hook);
  const outDir = path.join(SAELAB_ROOT, 'runs', 'case3-sae', hook);
  const model = await HookedTransformer.fromPretrained(shippedCase3Dir());
  const t0 = Date.now();
  const { sae, result } = await trainCase3Sae(model, hook, { trainingTokens }, { outDir, saeDir, progress: 'auto' });
  const seconds = (Date.now() - t0) / 1000;
  const { acts, tokens } = case3Activations(model, hook);
  const feats = sae.encode(acts) as tf.Tensor2D;
  const x = await tokenFeatureCorrelation(feats, tokens);
  const xOnly = await tokenSelectiveFeatures(feats, tokens);
  const top = await topActivatingExamples(tf.reshape(feats, [320, 5, -1]) as tf.Tensor3D, tokens, 20);
  await writeFeatureBrowserHtml(path.join(saeDir, 'features.html'), top, { decode: (id) => CASE3_TOKENS[id], tokens, title: `InterpBench case 3 (saelab model), SAE on ${hook}` });
  const m = result.metrics!;
  const report = {
    hook, config: case3SaeConfig(acts.shape[1], hook, { trainingTokens }), backend, train_seconds: seconds, steps: result.steps, tokens: result.tokens,
    explained_variance: m.explained_variance, l0: m.l0, mse_loss: m.mse_loss, dead_features: m.dead_features, live_features_on_320_inputs: top.live.length,
    x_feature: { feature: x.best, correlation_with_token_is_x: x.bestCorrelation },
    x_only_features: { min_precision: 0.95, features: xOnly.features, coverage_of_x_tokens: xOnly.coverage, x_tokens: xOnly.tokenCount },
  };
  writeJsonAtomic(path.join(saeDir, 'report.json'), report);
  tf.dispose([acts, feats]);
  sae.dispose();
  model.dispose();
  console.log(`SAE on ${hook}: ${result.steps} steps in ${seconds.toFixed(0)} s; explained variance ${m.explained_variance.toFixed(4)}, L0 ${m.l0.toFixed(2)}, ` +
    `${top.live.length} live features; feature ${x.best} correlates best with "token is x" (r = ${x.bestCorrelation.toFixed(3)}); ` +
    `${xOnly.features.length} x-only features (precision >= 0.95: ${xOnly.features.map((f) => f.feature).join(', ')}) cover ${(100 * xOnly.coverage).toFixed(1)}% of the ${xOnly.tokenCount} x tokens; wrote ${saeDir}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
