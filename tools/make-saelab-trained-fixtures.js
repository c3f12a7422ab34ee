#!/usr/bin/env node
/**
 * Train small SAEs with saelab (SAELens 6.18 defaults) and save them where SAELens is asked to read them:
 * test/fixtures/saelens/saelab_trained/<arch>/ (batchtopk and matryoshka_batchtopk, saved as jumprelu;
 * topk with its folded decoder norms; a skip transcoder). Then
 *   /usr/bin/python3 tools/make_saelens_arch_fixtures.py --saelens <SAELens checkout> --check-saelab
 * has SAELens 6.18 load each folder and writes its encode / forward of a probe input to expected.json,
 * which test/train/saelabTrained.test.ts compares with saelab's.
 *
 * usage: npm run build && node tools/make-saelab-trained-fixtures.js   (from the repository root; never run by tests)
 */
const fs = require('fs');
const path = require('path');
const lib = require('../dist/lib');

const OUT = path.join(__dirname, '..', 'test', 'fixtures', 'saelens', 'saelab_trained');
const D_IN = 8;

async function main() {
  await lib.initBackend();
  const data = new lib.SyntheticSparseData({ dIn: D_IN, nFeatures: 12, activePerSample: 2, chunkTokens: 256, seed: 4 });
  const base = { dIn: D_IN, dSae: 16, trainingTokens: 200 * 64, trainBatchSizeTokens: 64, nBatchesInBuffer: 4, lr: 3e-3, seed: 1, logEvery: 50,
    metadata: { model_name: 'tiny-model', hook_name: 'blocks.0.hook_resid_post', context_size: 16, prepend_bos: true } };
  const runs = {
    batchtopk: [{ architecture: 'batchtopk', k: 2 }, data.source()],
    matryoshka_batchtopk: [{ architecture: 'matryoshka_batchtopk', k: 2, matryoshkaWidths: [4, 8] }, data.source()],
    topk: [{ architecture: 'topk', k: 3 }, data.source()],
    skip_transcoder: [{ architecture: 'skip_transcoder', l1Coefficient: 0.1, metadata: { ...base.metadata, hook_name: 'blocks.0.ln2.hook_normalized', hook_name_out: 'blocks.0.hook_mlp_out' } },
      new lib.PairedActivationSource(data.source(), new lib.GeneratorSource(5, (i) => lib.tf.tidy(() => lib.tf.slice(lib.tf.tanh(data.chunk(i)), [0, 0], [-1, 5])), 'tanh of the first 5 dims'))],
  };
  for (const [name, [extra, source]] of Object.entries(runs)) {
    const dir = path.join(OUT, name);
    fs.rmSync(dir, { recursive: true, force: true });
    const trainer = await lib.SAETrainer.create({ ...base, ...extra }, source, { progress: 'none' });
    await trainer.fit();
    await trainer.saveSAE(dir);
    trainer.dispose();
    console.log(`wrote ${dir}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
