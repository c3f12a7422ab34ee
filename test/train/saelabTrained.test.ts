/**
 * SAEs trained by saelab (test/fixtures/saelens/saelab_trained, from tools/make-saelab-trained-fixtures.js)
 * open in SAELens 6.18 and encode there as in saelab: expected.json holds SAELens's own encode and
 * forward of each folder (tools/make_saelens_arch_fixtures.py --check-saelab), including BatchTopK and
 * Matryoshka SAEs saved as jumprelu with their learned threshold.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, assertClose, REPO_ROOT } from '../helpers';
import { SAE } from '../../lib/sae';

before(setupBackend);

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'saelens', 'saelab_trained');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'));

for (const name of ['batchtopk', 'matryoshka_batchtopk', 'topk', 'skip_transcoder']) {
  test(`a saelab-trained ${name} SAE loads in SAELens 6.18 as ${EXPECTED[name].class} and encodes identically`, async () => {
    const e = EXPECTED[name];
    const sae = await SAE.load(path.join(DIR, name));
    assert.strictEqual(sae.cfg.architecture, e.architecture);
    if (e.architecture === 'jumprelu') {
      // BatchTopK's one learned threshold for every feature, decoder rows folded to unit norm
      const thr = await sae.weights.threshold.data();
      assert.ok(thr.every((v) => v === thr[0]) && thr[0] > 0, `one positive threshold, got ${Array.from(thr)}`);
      const norms = await tf.tidy(() => tf.norm(sae.weights.W_dec, 'euclidean', 1)).data();
      assertClose(norms, new Array(norms.length).fill(1), 1e-5, 0);
    }
    const x = tf.tensor(e.x, e.x_shape);
    const r = sae.run(x);
    assertClose(await r.featureActs.data(), e.feature_acts, 1e-5, 1e-5, `${name} feature_acts`);
    assertClose(await r.saeOut.data(), e.sae_out, 1e-5, 1e-5, `${name} sae_out`);
    tf.dispose([x, r.featureActs, r.saeOut]);
    sae.dispose();
  });
}
