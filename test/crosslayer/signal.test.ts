import { it } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { tmpDir } from '../helpers';

const REPO_ROOT = path.join(__dirname, '..', '..', '..');

/**
 * A child process that runs the cross-layer collection (runCrossLayer, 3 layers x 16 features) over a
 * source of 100,000 batches of 8 random tokens, with a pair table of 16 entries (so it spills at once),
 * its spill folder made inside `parent`. It would run for minutes; the test signals it mid-way.
 */
const CHILD = `
const { initBackend } = require('./dist/lib/backend');
const { runCrossLayer } = require('./dist/lib/analysis/crosslayer');
const D = 16, T = 8;
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const source = {
  n_layers: 3, d_sae: D,
  async *batches() {
    for (let b = 0; b < 100000; b++) {
      yield [0, 1, 2].map(() => Float32Array.from({ length: T * D }, () => (rand() < 0.4 ? 0.1 + rand() : 0)));
      await new Promise((r) => setTimeout(r, 2));
    }
  },
};
initBackend().then(() => runCrossLayer(source, { relative: false, config: { max_pairs_in_memory: 16, spill_dir: process.argv[1] } }))
  .then(() => console.log('finished'));
`;

/** Spawn the child, wait until its spill folder holds a run file, send `signal`; resolves with the exit and that folder. */
function collectAndSignal(parent: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; spill: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, parent], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    let spill = '';
    const deadline = Date.now() + 60_000;
    const poll = setInterval(() => {
      const dirs = fs.readdirSync(parent).filter((n) => n.startsWith('saelab-crosslayer-spill-'));
      if (dirs.length === 1 && fs.readdirSync(path.join(parent, dirs[0])).some((f) => f.endsWith('.bin'))) {
        clearInterval(poll);
        spill = path.join(parent, dirs[0]);
        child.kill(signal);
      } else if (Date.now() > deadline) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`no spill folder appeared in ${parent} within 60 s; stderr: ${stderr}`));
      }
    }, 20);
    child.on('exit', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, spill, stderr });
    });
  });
}

for (const [signal, code] of [['SIGTERM', 128 + os.constants.signals.SIGTERM], ['SIGINT', 128 + os.constants.signals.SIGINT]] as const) {
  it(`${signal} during a spilling collection removes the spill folder saelab made, and nothing else; exit status ${code}`, async () => {
    const parent = tmpDir('crosslayer-signal-');
    const userFile = path.join(parent, 'notes.txt');
    fs.writeFileSync(userFile, 'a user file beside the spill folder\n');
    const r = await collectAndSignal(parent, signal);
    assert.ok(r.spill, 'the child spilled');
    assert.strictEqual(r.code, code, `exit code (signal ${r.signal}); stderr: ${r.stderr}`);
    assert.ok(!fs.existsSync(r.spill), `${r.spill} was left behind`);
    assert.deepStrictEqual(fs.readdirSync(parent), ['notes.txt'], 'only the spill folder is removed');
    assert.strictEqual(fs.readFileSync(userFile, 'utf8'), 'a user file beside the spill folder\n');
  });
}
