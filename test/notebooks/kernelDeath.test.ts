import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { executeNotebook } from '../../lib/pipeline/notebooks';
import { describeFailure } from '../../lib/pipeline/run';
import { claimRunFolder } from '../../lib/notebook/stage';
import { REPO_ROOT, tmpDir } from '../helpers';

/** A tslab notebook of code cells. */
function notebook(cells: string[]): string {
  return JSON.stringify({
    cells: cells.map((source, i) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source, id: `cell-${i}` })),
    metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
    nbformat: 4, nbformat_minor: 5,
  });
}

test('a kernel killed mid-stage (as by the out-of-memory killer) is reported with its cell, signal, stage and activity', async () => {
  const dir = tmpDir();
  const file = path.join(dir, '04_dies.ipynb');
  const lib = JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib'));
  fs.writeFileSync(file, notebook([
    `const lib = require(${lib});\nlib.setActivityStage('04_sae_eval');\nlib.recordActivity('loading the finetune meta-math/MetaMath-Mistral-7B (dtype bfloat16)', 'finetune meta-math/MetaMath-Mistral-7B');`,
    'process.kill(process.pid, \'SIGKILL\');',
    'console.log("never runs");',
  ]));
  const out = path.join(dir, 'run');
  claimRunFolder(out);
  const r = await executeNotebook({ number: '04', name: '04_dies', file }, out, { SAELAB_RUN_DIR: out });
  assert.strictEqual(r.ok, false);
  assert.strictEqual(r.cell, 1, 'the second cell (index 1) died');
  const msg = describeFailure({ notebook: '04_dies', cell: r.cell, error: r.error, source: r.source });
  assert.match(msg, /cell 2 failed/);
  assert.doesNotMatch(msg, /unknown cell/);
  assert.match(r.error!, /kernel died while running cell 2 \(killed by SIGKILL\)/);
  assert.match(r.error!, /Stage 04_sae_eval was loading the finetune meta-math\/MetaMath-Mistral-7B \(dtype bfloat16\)/);
  assert.match(r.error!, /out-of-memory killer/);
  // the notebook executed up to the dead cell is still written
  assert.ok(fs.existsSync(path.join(out, '04_dies.ipynb')));
});
