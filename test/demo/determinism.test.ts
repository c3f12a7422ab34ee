import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { HookedTransformerConfigInput } from '../../lib/model/config';
import { trainLanguageModel } from '../../lib/lm/trainer';
import { TokenWindowSampler } from '../../lib/lm/batches';
import { asTrainable } from '../../lib/demo/world';
import { SAETrainer, InMemorySource } from '../../lib/train';
import { setupBackend, tmpDir } from '../helpers';
import { mulberry32 } from '../../lib/data/random';

before(setupBackend);

/**
 * `npm run make:demo` promises the same bytes on every run (same backend build): its two training
 * loops, the language model's and the SAE's, are run twice here from the same seeds and compared bit
 * for bit; a different seed must give different weights (so the comparison can fail).
 */

const TINY: HookedTransformerConfigInput = {
  n_layers: 2, d_model: 16, n_heads: 2, d_head: 8, d_mlp: 32, n_ctx: 16, d_vocab: 40,
  act_fn: 'gelu_new', normalization_type: 'LN', positional_embedding_type: 'standard',
  original_architecture: 'GPT2LMHeadModel', model_name: 'determinism-test', default_prepend_bos: true,
} as HookedTransformerConfigInput;

async function trainTinyLm(seed: number): Promise<Map<string, Float32Array>> {
  const model = HookedTransformer.fromConfig({ ...TINY, seed } as HookedTransformerConfigInput, { seed, trainable: true });
  const stream = Int32Array.from({ length: 2000 }, (_, i) => (i * 7 + ((i * i) % 13)) % 39);
  const sampler = new TokenWindowSampler(stream, 12, 4, 39, seed + 1);
  await trainLanguageModel(asTrainable(model), () => ({ ids: sampler.next(), shape: [4, 12] }), {
    steps: 6, lr: 3e-3, warmupSteps: 1, weightDecay: 0.1, checkpointSteps: [], logEvery: 100,
  });
  const out = new Map<string, Float32Array>();
  for (const [k, v] of model.params) out.set(k, v.dataSync().slice() as Float32Array);
  model.dispose();
  return out;
}

test('language-model training is bitwise reproducible from its seed', async () => {
  const a = await trainTinyLm(3);
  const b = await trainTinyLm(3);
  const c = await trainTinyLm(4);
  assert.deepStrictEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.ok(Buffer.from(v.buffer).equals(Buffer.from(b.get(k)!.buffer)), `${k} differs between two runs with the same seed`);
  assert.ok([...a].some(([k, v]) => !Buffer.from(v.buffer).equals(Buffer.from(c.get(k)!.buffer))), 'another seed gives other weights');
});

async function trainTinySae(seed: number, dir: string): Promise<void> {
  const d = 8;
  const rand = mulberry32(12345);
  const data = Float32Array.from({ length: 600 * d }, () => rand() - 0.5);
  const trainer = await SAETrainer.create({
    dIn: d, dSae: 32, architecture: 'standard', l1Coefficient: 1, lr: 1e-3, trainingTokens: 2048, trainBatchSizeTokens: 128,
    normalizeActivations: 'expected_average_only_in', bDecInitMethod: 'geometric_median', useGhostGrads: false, seed, nCheckpoints: 0,
    featureSamplingWindow: 4, deadFeatureWindow: 4,
  } as never, new InMemorySource(data, d, { chunkTokens: 256, loop: true }), { progress: 'none' });
  await trainer.fit();
  const sae = trainer.toSAE();
  trainer.dispose();
  await sae.save(dir);
  sae.dispose();
}

test('SAE training writes the same bytes from the same seed', async () => {
  const root = tmpDir();
  await trainTinySae(9, path.join(root, 'a'));
  await trainTinySae(9, path.join(root, 'b'));
  await trainTinySae(10, path.join(root, 'c'));
  const files = fs.readdirSync(path.join(root, 'a')).sort();
  assert.ok(files.includes('sae_weights.safetensors'));
  for (const f of files) assert.ok(fs.readFileSync(path.join(root, 'a', f)).equals(fs.readFileSync(path.join(root, 'b', f))), `${f} differs between two runs with the same seed`);
  const w = (r: string) => fs.readFileSync(path.join(root, r, 'sae_weights.safetensors'));
  assert.ok(!w('a').equals(w('c')), 'another seed gives other weights');
});
