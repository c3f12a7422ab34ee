/**
 * Checkpoints written before the architecture registry and SAELens 6 defaults (trainer state version 1,
 * test/fixtures/train/checkpoint-v1, written by saelab's earlier trainer) resume with the SAELens 5
 * defaults they were made with and finish on the weights that trainer's uninterrupted run wrote.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as path from 'path';
import { setupBackend, assertClose, tmpDir, REPO_ROOT } from '../helpers';
import { SAETrainer } from '../../lib/train/trainer';
import { SyntheticSparseData } from '../../lib/train/synthetic';
import { SafetensorsFile } from '../../lib/io/safetensors';

before(setupBackend);

const data = new SyntheticSparseData({ dIn: 8, nFeatures: 12, activePerSample: 2, chunkTokens: 50, seed: 5 });

for (const name of ['standard', 'jumprelu']) {
  test(`a version 1 ${name} checkpoint resumes with its SAELens 5 defaults to the earlier trainer's final weights`, async () => {
    const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'train', 'checkpoint-v1', name);
    const out = tmpDir();
    const t = await SAETrainer.resume(path.join(fixture, 'checkpoint'), data.source(), { outDir: out, progress: 'none' });
    assert.strictEqual(t.cfg.defaults, 'saelens5');
    assert.strictEqual(t.cfg.normalizeSaeDecoder, true);
    assert.strictEqual(t.step, 21);
    await t.fit();
    t.dispose();
    const want = SafetensorsFile.open(path.join(fixture, 'final_sae_weights.safetensors'));
    const got = SafetensorsFile.open(path.join(out, 'sae_weights.safetensors'));
    assert.deepStrictEqual(got.names().sort(), want.names().sort());
    for (const n of want.names()) assertClose(got.readFloat32(n), want.readFloat32(n), 1e-6, 1e-5, `${name} ${n}`);
    want.close();
    got.close();
  });
}
