/**
 * Interruptible long work: a SIGINT (what Jupyter sends to interrupt a kernel) stops loops at their next
 * batch boundary with InterruptedError; work started afterwards runs; an interrupted SAE training leaves
 * its last checkpoint and no final SAE, and resuming from it gives the uninterrupted run's weights bit for bit.
 */
import { before, test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { setupBackend, tmpDir } from '../helpers';
import { InterruptedError, interruptible, isInterrupted, listenForInterrupts, requestInterrupt } from '../../lib/notebook/interrupt';
import { SAETrainer, trainSAE } from '../../lib/train/trainer';
import { SyntheticSparseData } from '../../lib/train/synthetic';
import { TrainSAEConfigInput } from '../../lib/train/config';
import { attributeNodes, saeSet } from '../../lib/circuits';
import { tinyModel, randomSAE, HOOKS, PAIRS } from '../circuits/tiny';

before(setupBackend);

/** Busy-wait `ms` (a batch of synchronous work that never yields by itself). */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* compute */ }
}

test('a SIGINT stops a loop of synchronous batches at the next batch boundary; later work is not affected', async () => {
  listenForInterrupts();
  const batchMs = 20;
  let batches = 0;
  let sentAt = 0;
  const loop = (async () => {
    const stopPoint = interruptible('test loop');
    for (let i = 0; i < 10_000; i++) {
      busy(batchMs);
      batches++;
      if (i === 10) {
        sentAt = Date.now();
        process.kill(process.pid, 'SIGINT');
      }
      await stopPoint(`batch ${i}`);
    }
  })();
  await assert.rejects(loop, (e: unknown) => {
    assert.ok(e instanceof InterruptedError && isInterrupted(e));
    assert.match((e as Error).message, /^test loop interrupted \(batch \d+\): stopped at a batch boundary/);
    return true;
  });
  const stoppedAfter = Date.now() - sentAt;
  // the signal is seen at the first stop point that yields (at most every 50 ms): within a few batches
  assert.ok(batches <= 10 + 1 + Math.ceil(50 / batchMs) + 1, `stopped after ${batches} batches`);
  assert.ok(stoppedAfter < 1000, `stopped ${stoppedAfter} ms after the signal`);
  // work started after the interrupt runs to the end
  const after = interruptible('later work');
  for (let i = 0; i < 5; i++) { busy(batchMs); await after(); }
});

test('requestInterrupt stops every piece of running work, each at its own stop point', async () => {
  const a = interruptible('a');
  const b = interruptible('b');
  requestInterrupt();
  await assert.rejects(a(), /a interrupted/);
  await assert.rejects(b('x'), /b interrupted \(x\)/);
  const c = interruptible('c');
  await c();
});

test('interrupted SAE training keeps its last checkpoint, writes no final SAE, frees its tensors, and resumes bit-identically', async () => {
  const data = new SyntheticSparseData({ dIn: 8, nFeatures: 12, activePerSample: 2, chunkTokens: 50, seed: 5 });
  const cfg: TrainSAEConfigInput = { dIn: 8, dSae: 16, trainingTokens: 40 * 32, trainBatchSizeTokens: 32, nBatchesInBuffer: 4, nCheckpoints: 2, logEvery: 5, lr: 1e-2, seed: 9 };
  const root = tmpDir();
  const full = path.join(root, 'full');
  const a = await SAETrainer.create(cfg, data.source(), { outDir: full, progress: 'none' });
  assert.ok((await a.fit()).completed);
  a.dispose();

  const part = path.join(root, 'part');
  // what a completed run leaves allocated after dispose (the same whether or not it was interrupted)
  const t0 = tf.memory().numTensors;
  const done = await trainSAE(cfg, data.source(), { progress: 'none' });
  done.trainer.dispose();
  const residue = tf.memory().numTensors - t0;
  const before = tf.memory().numTensors;
  // interrupt at the log step 25 (after the checkpoint at 672 tokens = step 21), as a kernel interrupt would
  await assert.rejects(trainSAE(cfg, data.source(), { outDir: part, onProgress: (p) => { if (p.step === 25) requestInterrupt(); } }), (e: unknown) => {
    assert.ok(isInterrupted(e));
    assert.match((e as Error).message, /SAE training interrupted \(at step 25 of 40/);
    return true;
  });
  assert.strictEqual(tf.memory().numTensors - before, residue, 'the interrupted trainer freed its tensors');
  assert.ok(!fs.existsSync(path.join(part, 'sae_weights.safetensors')), 'no final SAE');
  assert.deepStrictEqual(fs.readdirSync(path.join(part, 'checkpoints')), ['672'], 'only the complete checkpoint');
  assert.deepStrictEqual(fs.readdirSync(part).filter((f) => /tmp/.test(f)), [], 'no temporary files left');
  const c = await SAETrainer.resume(path.join(part, 'checkpoints', '672'), data.source(), { outDir: part, progress: 'none' });
  assert.strictEqual(c.step, 21);
  assert.ok((await c.fit()).completed);
  c.dispose();
  assert.ok(fs.readFileSync(path.join(full, 'sae_weights.safetensors')).equals(fs.readFileSync(path.join(part, 'sae_weights.safetensors'))), 'resumed weights equal the uninterrupted run');
});

test('an interrupted attribution (exact, ig) stops at a batch boundary and frees every tensor it made', async () => {
  const model = tinyModel();
  const set = saeSet(HOOKS.slice(0, 2).map((h, i) => randomSAE(h, 12, 10 + i)));
  const before = tf.memory().numTensors;
  for (const method of ['exact', 'ig'] as const) {
    // one forward pass per batch: hundreds of batches, so the interrupt lands in the middle
    const timer = setTimeout(requestInterrupt, 10);
    await assert.rejects(attributeNodes(model, set, PAIRS, { method, steps: 2000, stepsPerPass: 1, rowsPerPass: 1 }), new RegExp(`${method} attribution interrupted`));
    clearTimeout(timer);
    assert.strictEqual(tf.memory().numTensors, before, `${method}: no tensor left behind`);
  }
  for (const s of set.values()) s.dispose();
  model.dispose();
});
