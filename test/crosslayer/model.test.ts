import { before, describe, it } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import { DEFAULT_CROSSLAYER_CONFIG, CrossLayerSettings } from '../../lib/stages/config';
import { CrossLayerModels, loadCrossLayerModels, runCrossLayerFromModel } from '../../lib/stages/crosslayerRun';
import { hookActivations } from '../../lib/stages/common';
import { textsFromDataset } from '../../lib/data/sources';
import { tokenizeAndConcatenate } from '../../lib/data/concat';
import { writeSafetensors } from '../../lib/io/safetensors';
import { command } from '../../lib/cli/commands/crosslayer';
import { loadDeadFeatures, pairFileName } from '../../lib/analysis/crosslayer';

before(setupBackend);

/** The demo world, small: 6 batches of 4 contexts x 32 tokens, checkpoints every 2 batches. */
const settings: CrossLayerSettings = {
  ...structuredClone(DEFAULT_CROSSLAYER_CONFIG), contextSize: 32, batchSize: 4, tokens: 6 * 128 + 100, checkpointTokens: 256, saveEveryTokens: 256,
};
const N_TOKENS = 6 * 128;
const FILES = [pairFileName(0), pairFileName(1), pairFileName(2), 'max_activations.safetensors', 'dead_features.safetensors'];

function assertSameFiles(a: string, b: string, what: string): void {
  for (const f of FILES) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${what}: ${f} differs`);
  const sa = JSON.parse(fs.readFileSync(path.join(a, 'summary.json'), 'utf8'));
  const sb = JSON.parse(fs.readFileSync(path.join(b, 'summary.json'), 'utf8'));
  for (const k of ['tokens', 'steps', 'n_layers', 'd_sae', 'nnz', 'checkpoint_tokens']) assert.deepStrictEqual(sa[k], sb[k], `${what}: summary ${k}`);
}

/** Count (and optionally interrupt) the model's forward passes. */
function instrument(models: CrossLayerModels, failAt = Infinity): { calls: number; restore(): void } {
  const m = models.model;
  const orig = m.runWithCache;
  const counter = { calls: 0, restore: () => { m.runWithCache = orig; } };
  m.runWithCache = function (this: typeof m, ...args: Parameters<typeof orig>) {
    if (++counter.calls >= failAt) throw new Error('interrupted');
    return orig.apply(this, args);
  };
  return counter;
}

describe('cross-layer statistics streamed from the model and its SAEs', () => {
  const dir = tmpDir('crosslayer-model-');
  const streamed = path.join(dir, 'streamed');
  let models: CrossLayerModels;

  before(async () => {
    models = await loadCrossLayerModels(settings);
  });

  it('writes the same files as the activation-file path on the same tokens', async () => {
    const c = instrument(models);
    const run = await runCrossLayerFromModel(settings, streamed, { models, silent: true });
    c.restore();
    assert.strictEqual(c.calls, 6, 'one forward pass per batch: pass 2 reuses the codes of pass 1 held in memory');
    assert.deepStrictEqual(run.hooks, DEFAULT_CROSSLAYER_CONFIG.hooks);
    assert.strictEqual(run.summary.tokens, N_TOKENS, 'the budget is cut to whole batches');
    assert.strictEqual(run.summary.steps, 3);
    assert.ok(run.summary.nnz.pearson_correlation.every((n) => n > 0) && run.summary.nnz.cosine_similarity.every((n) => n > 0));

    // the same contexts, each layer's activations from its own forward pass and SAE, written as files
    const contexts: Int32Array[] = [];
    const texts = textsFromDataset('saelab/demo-text', { split: 'validation', column: 'text' } as never);
    for await (const ctx of tokenizeAndConcatenate(texts, models.tokenizer, { contextSize: 32, prependBos: true })) {
      contexts.push(ctx);
      if (contexts.length === 24) break;
    }
    const d = models.saes[0].cfg.d_sae;
    const files = await Promise.all(models.saes.map(async (sae, L) => {
      const acts = new Float32Array(N_TOKENS * d);
      for (let b = 0; b < 6; b++) {
        const ids = new Int32Array(128);
        for (let i = 0; i < 4; i++) ids.set(contexts[b * 4 + i], i * 32);
        const tokens = tf.tensor2d(ids, [4, 32], 'int32');
        const x = hookActivations(models.model, tokens, `blocks.${L}.hook_resid_pre`, L);
        const f = sae.encode(x);
        acts.set(await f.data() as Float32Array, b * 128 * d);
        tf.dispose([tokens, x, f]);
      }
      const file = path.join(dir, `L${L}.safetensors`);
      const wDec = sae.weights.W_dec;
      writeSafetensors(file, {
        feature_acts: { dtype: 'F32', shape: [24, 32, d], data: acts },
        W_dec: { dtype: 'F32', shape: wDec.shape, data: await wDec.data() as Float32Array },
      });
      return file;
    }));
    const fromFiles = path.join(dir, 'files');
    const log = console.log;
    console.log = () => {};
    try {
      assert.strictEqual(await command.run(['--acts', files.join(','), '--decoder-tensor', 'W_dec', '--checkpoint-tokens', '256', '--batch-tokens', '128', '--out', fromFiles]), 0);
    } finally {
      console.log = log;
    }
    assertSameFiles(streamed, fromFiles, 'model vs activation files');
  });

  it('an interrupted run resumes from its last save and writes the same files as an uninterrupted one', async () => {
    const out = path.join(dir, 'resumed');
    const state = path.join(dir, 'state');
    // pass 1 = forward passes 1..6; pass 2 (read again: no code cache) saves after batches 2 and 4; fail in batch 4
    const c1 = instrument(models, 6 + 4);
    await assert.rejects(runCrossLayerFromModel(settings, out, { models, stateDir: state, cacheBytes: 0, silent: true }), /interrupted/);
    c1.restore();
    assert.ok(fs.existsSync(path.join(state, 'max_activations.safetensors')), 'pass 1 saved the max activations');
    assert.strictEqual(JSON.parse(fs.readFileSync(path.join(state, 'collector', 'state.json'), 'utf8')).tokens, 256, 'last save after 2 batches of pass 2');
    const c2 = instrument(models);
    const run = await runCrossLayerFromModel(settings, out, { models, stateDir: state, silent: true });
    c2.restore();
    assert.strictEqual(run.resumedFrom, 256);
    assert.strictEqual(c2.calls, 4, 'pass 1 skipped, pass 2 continued at batch 3 of 6');
    assertSameFiles(streamed, out, 'resumed vs uninterrupted');
    assert.ok(!fs.existsSync(state), 'the state is removed after success');
  });

  it('saelab crosslayer --model streams the same files, and mixing the two modes is an error', async () => {
    const out = path.join(dir, 'cli');
    const log = console.log;
    const printed: string[] = [];
    console.log = (x: string) => { printed.push(x); };
    try {
      assert.strictEqual(await command.run([
        '--model', 'saelab/demo-base', '--sae-release', 'saelab-demo-res', '--dataset', 'saelab/demo-text', '--split', 'validation',
        '--context-size', '32', '--batch-size', '4', '--tokens', String(settings.tokens), '--checkpoint-tokens', '256', '--out', out,
      ]), 0);
    } finally {
      console.log = log;
    }
    assert.strictEqual(JSON.parse(printed[printed.length - 1]).tokens, N_TOKENS);
    assertSameFiles(streamed, out, 'CLI --model vs library');
    await assert.rejects(command.run(['--model', 'saelab/demo-base', '--acts', 'a.safetensors,b.safetensors', '--out', out]), /--acts reads activation files; it cannot be combined with --model/);
    await assert.rejects(command.run(['--tokens', '100', '--acts', 'a.safetensors,b.safetensors', '--out', out]), /--tokens belongs to streaming from a model/);
    await assert.rejects(command.run(['--model', 'saelab/demo-base', '--out', out]), /missing required option --sae-release/);
  });

  it('a saved state from other settings is discarded, not resumed', async () => {
    const state = path.join(dir, 'state2');
    const c1 = instrument(models, 6 + 4);
    await assert.rejects(runCrossLayerFromModel(settings, path.join(dir, 'x'), { models, stateDir: state, cacheBytes: 0, silent: true }), /interrupted/);
    c1.restore();
    const other = { ...settings, checkpointTokens: 128 };
    const run = await runCrossLayerFromModel(other, path.join(dir, 'other'), { models, stateDir: state, silent: true });
    assert.strictEqual(run.resumedFrom, 0);
    assert.strictEqual(run.summary.steps, 6);
    // the dead-feature series at 256, 512, 768 tokens equal the run checkpointed every 256 tokens
    const a = loadDeadFeatures(path.join(streamed, 'dead_features.safetensors'));
    const b = loadDeadFeatures(path.join(dir, 'other', 'dead_features.safetensors'));
    assert.deepStrictEqual(b.tokens, [128, 256, 384, 512, 640, 768]);
    assert.deepStrictEqual([1, 3, 5].map((k) => b.dead_features[k]), a.dead_features);
    assert.deepStrictEqual(b.dead_feature_pairs.map((t) => t.map((p) => [1, 3, 5].map((k) => p[k]))), a.dead_feature_pairs);
    models.dispose();
  });
});
