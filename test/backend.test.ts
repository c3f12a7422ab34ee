import { test } from 'node:test';
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendName, describeBackend } from '../lib/backend';

test('initBackend picks a registered backend and reports versions', async () => {
  const info = await initBackend();
  assert.strictEqual(tf.getBackend(), info.tfBackend);
  assert.ok(info.versions['tfjs-core']);
  assert.match(describeBackend(info), /saelab backend: /);
  // the aliased @tensorflow/tfjs-node (danfojs override) must not count as the tensorflow backend
  if (info.kind !== 'tensorflow' && info.kind !== 'tensorflow-gpu') assert.strictEqual(tf.findBackendFactory('tensorflow'), null);
});

test('backend names parse, unknown ones name the variable', () => {
  assert.strictEqual(parseBackendName('node-gpu'), 'tensorflow-gpu');
  assert.strictEqual(parseBackendName('WASM'), 'wasm');
  assert.throws(() => parseBackendName('tpu'), /unknown backend 'tpu' \(SAELAB_BACKEND\)/);
});
