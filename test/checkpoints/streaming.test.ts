/**
 * The checkpoint sweep at the published size streams what does not fit: training activations above
 * spillBytes go through a scratch file (same SAE, same numbers, the file removed), held-out feature
 * activations are written and read back chunk by chunk (activation cosine, live masks, top rows).
 */
import { test, before } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir, assertClose } from '../helpers';
import { HookedTransformer } from '../../lib/model/hookedTransformer';
import { runSweep, SweepSpec, sweepJobDir, sweepJobHash, EVAL_FEATURE_ACTS } from '../../lib/checkpoints/sweep';
import { modelCheckpointProvider, collectHookActivations, writeHookActivations, sampleWindows, removeStaleScratch } from '../../lib/checkpoints/modelProvider';
import { forEachRowChunk, topRowsPerColumn, readRowsTensor } from '../../lib/checkpoints/featureActs';
import { sweepSimilarity, sweepAliveMask } from '../../lib/checkpoints/sweepChains';
import { writeSafetensors } from '../../lib/io/safetensors';

before(setupBackend);

const CFG = { n_layers: 2, d_model: 8, d_head: 4, n_heads: 2, d_vocab: 20, n_ctx: 8, act_fn: 'gelu_new' as const };
const STREAM = Int32Array.from({ length: 600 }, (_, i) => (i * 7 + (i >> 3)) % 20);
const SPEC: SweepSpec = {
  hook: 'blocks.1.hook_resid_pre',
  checkpoints: [{ label: 's1', step: 1 }, { label: 's2', step: 2 }],
  training: { dSae: 16, trainingTokens: 12 * 32, trainBatchSizeTokens: 32, nBatchesInBuffer: 2, lr: 1e-2, l1Coefficient: 0.01, seed: 1, logEvery: 4 },
};

function provider(extra: { spillBytes?: number; scratchDir?: string }) {
  return modelCheckpointProvider({
    model: 'tiny', trainTokens: STREAM, evalTokens: STREAM.slice(200), contextSize: 8, batchSize: 4, bosTokenId: 0, seed: 3, trainBatches: 5, evalBatches: 3,
    loadModel: async (c) => HookedTransformer.fromConfig(CFG, { seed: c.step }), ...extra,
  });
}

test('training activations spilled to a scratch file give the same SAEs and numbers as in memory, and the file is removed', async () => {
  const scratch = tmpDir();
  const [memDir, diskDir] = [tmpDir(), tmpDir()];
  const inMemory = await runSweep(memDir, SPEC, provider({}));
  const spilled = await runSweep(diskDir, SPEC, provider({ spillBytes: 0, scratchDir: scratch }));
  const strip = (r: (typeof inMemory)[number]) => ({ ...r, sae_dir: '', reused: false });
  assert.deepStrictEqual(spilled.map(strip), inMemory.map(strip));
  assert.deepStrictEqual(fs.readdirSync(scratch), [], 'the scratch activations are removed when the job ends');
  for (const c of SPEC.checkpoints) {
    const a = readRowsTensor(path.join(sweepJobDir(memDir, c), EVAL_FEATURE_ACTS), 'feature_acts');
    const b = readRowsTensor(path.join(sweepJobDir(diskDir, c), EVAL_FEATURE_ACTS), 'feature_acts');
    assert.deepStrictEqual(Array.from(b.dataSync()), Array.from(a.dataSync()), `${c.label}: held-out feature activations`);
    assert.deepStrictEqual(b.shape, [3 * 4 * 8, 16]);
    tf.dispose([a, b]);
  }
});

test('writeHookActivations writes what collectHookActivations returns', () => {
  const m = HookedTransformer.fromConfig(CFG, { seed: 4 });
  const windows = sampleWindows(STREAM, 8, 4, 0, 9, 3);
  const want = collectHookActivations(m, SPEC.hook, windows, 4, 8);
  const file = path.join(tmpDir(), 'a.safetensors');
  assert.strictEqual(writeHookActivations(m, SPEC.hook, windows, 4, 8, file), 8);
  const got = readRowsTensor(file, 'activations');
  assert.deepStrictEqual(got.shape, [3 * 4 * 8, 8]);
  assert.deepStrictEqual(Array.from(got.dataSync()), Array.from(want));
  got.dispose();
  m.dispose();
});

/** A [rows, cols] matrix of seeded values, about half of them zero (as ReLU feature activations). */
function sparseMatrix(rows: number, cols: number, seed: number): Float32Array {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Float32Array.from({ length: rows * cols }, () => Math.max(0, rnd() - 0.5));
}

test('streamed held-out feature activations: top rows, activation cosine and live masks by brute force, chunks uneven', async () => {
  const [N, D] = [37, 6];
  const A = sparseMatrix(N, D, 1);
  const B = sparseMatrix(N, D, 2);
  for (let r = 0; r < N; r++) A[r * D + 5] = 0; // a dead feature
  A[10 * D + 2] = A[30 * D + 2] = 0.75; // a tie: the lower row first
  const dir = tmpDir();
  const file = (x: Float32Array, label: string) => {
    const f = path.join(sweepJobDir(dir, { label, step: 0 }), EVAL_FEATURE_ACTS);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    writeSafetensors(f, { feature_acts: { dtype: 'F32', shape: [N, D], data: x } });
    return f;
  };
  const fa = file(A, 'a');
  file(B, 'b');
  // top 3 rows of each column by sorting the column
  const top = await topRowsPerColumn(fa, 'feature_acts', 3, 8);
  for (let f = 0; f < D; f++) {
    const col = Array.from({ length: N }, (_, r) => ({ row: r, value: A[r * D + f] })).filter((x) => x.value > 0);
    col.sort((p, q) => q.value - p.value || p.row - q.row);
    assert.deepStrictEqual(top[f].map((x) => x.row), col.slice(0, 3).map((x) => x.row), `feature ${f}`);
    assertClose(top[f].map((x) => x.value), col.slice(0, 3).map((x) => x.value), 0, 0);
  }
  assert.deepStrictEqual(top[2].slice(0, 2).map((x) => x.row), [10, 30], 'the tie at the top (0.75, above every other value) in row order');
  assert.deepStrictEqual(top[5], [], 'a dead feature has no top rows');
  // activation cosine sum_t a_ti b_tj / (|a_i| |b_j|), from the sums
  const spec: SweepSpec = { ...SPEC, checkpoints: [{ label: 'a', step: 0 }, { label: 'b', step: 1 }] };
  for (const c of spec.checkpoints) fs.writeFileSync(path.join(sweepJobDir(dir, c), 'summary.json'), JSON.stringify({ job_hash: sweepJobHash(spec, c) }));
  const sim = await sweepSimilarity(dir, spec, 0, 1, 'activation');
  assert.deepStrictEqual([sim.rows, sim.cols], [D, D]);
  for (const [i, j] of [[0, 0], [2, 3], [4, 1]]) {
    let dot = 0, na = 0, nb = 0;
    for (let r = 0; r < N; r++) {
      dot += A[r * D + i] * B[r * D + j];
      na += A[r * D + i] ** 2;
      nb += B[r * D + j] ** 2;
    }
    assertClose([sim.values[i * D + j]], [dot / Math.sqrt(na * nb)], 1e-5, 1e-5, `cosine ${i},${j}`);
  }
  assert.deepStrictEqual(Array.from(await sweepAliveMask(dir, { label: 'a', step: 0 })), [1, 1, 1, 1, 1, 0]);
  // chunks of the two files cover the same rows; files of different lengths are refused
  let seen = 0;
  const total = await forEachRowChunk([fa, fa], 'feature_acts', 10, ([x, y], start) => {
    assert.strictEqual(start, seen);
    assert.deepStrictEqual(x.shape, y.shape);
    seen += x.shape[0];
  });
  assert.strictEqual(total, N);
  const short = path.join(dir, 'short.safetensors');
  writeSafetensors(short, { feature_acts: { dtype: 'F32', shape: [N - 1, D], data: A.subarray(0, (N - 1) * D) } });
  await assert.rejects(forEachRowChunk([fa, short], 'feature_acts', 10, () => undefined), /different numbers of tokens \(37 vs 36\)/);
});

test('removeStaleScratch removes the scratch folders of dead processes of this machine only', () => {
  const dir = tmpDir();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const host = os.hostname();
  const names = {
    stale: `saelab-train-acts_${host}_${dead}_step0-abc123`,
    live: `saelab-train-acts_${host}_${process.pid}_step0-def456`,
    otherHost: `saelab-train-acts_another-node_${dead}_step0-ghi789`,
    unrelated: `saelab-train-acts-notours_${dead}_x`,
  };
  for (const n of Object.values(names)) {
    fs.mkdirSync(path.join(dir, n));
    fs.writeFileSync(path.join(dir, n, 'activations.safetensors'), 'x');
  }
  assert.deepStrictEqual(removeStaleScratch(dir), [path.join(dir, names.stale)]);
  assert.deepStrictEqual(fs.readdirSync(dir).sort(), [names.live, names.otherHost, names.unrelated].sort());
});
