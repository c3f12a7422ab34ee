import { test } from 'node:test';
import * as assert from 'assert';
import { collectGarbage, formatBytes, parseBytes } from '../../lib/model/memory';
import { loadNativeAddon } from '../../lib/backend/native';

test('collectGarbage returns a dropped buffer\'s memory to the system before the next load', async () => {
  const before = process.memoryUsage.rss();
  let blocks: Float32Array[] | null = Array.from({ length: 4 }, () => new Float32Array(64 * 2 ** 20 / 4).fill(1)); // 4 x 64 MiB
  assert.ok(process.memoryUsage.rss() - before > 200 * 2 ** 20, 'the blocks are resident');
  assert.strictEqual(blocks.length, 4);
  blocks = null;
  assert.strictEqual(await collectGarbage(), true);
  assert.ok(process.memoryUsage.rss() - before < 100 * 2 ** 20, `after collecting, ${formatBytes(process.memoryUsage.rss() - before)} more than before`);
});

test('with the native addon, buffers under 64 MiB stay on the C heap for reuse, and collectGarbage still gives them back', async () => {
  const { addon } = loadNativeAddon(); // tunes glibc's allocator as it loads (lib/backend/native.ts)
  if (!addon?.allocatorTune) assert.fail('the native addon has no allocatorTune: rebuild it with `node scripts/build-native.js`');
  const before = process.memoryUsage.rss();
  let blocks: Float32Array[] | null = Array.from({ length: 25 }, () => new Float32Array(8 * 2 ** 20 / 4).fill(1)); // 25 x 8 MiB: less than the 256 MiB glibc trims by itself
  assert.ok(process.memoryUsage.rss() - before > 150 * 2 ** 20, 'the blocks are resident');
  assert.strictEqual(blocks.length, 25);
  blocks = null;
  assert.strictEqual(await collectGarbage(), true);
  assert.ok(process.memoryUsage.rss() - before < 100 * 2 ** 20, `after collecting, ${formatBytes(process.memoryUsage.rss() - before)} more than before`);
});

test('memory sizes: powers of 1024 in, decimal out', () => {
  assert.strictEqual(parseBytes('20G'), 20 * 2 ** 30);
  assert.strictEqual(parseBytes('512MiB'), 512 * 2 ** 20);
  assert.strictEqual(parseBytes(1.5e10), 1.5e10);
  assert.throws(() => parseBytes('lots'), /not a size like 20G/);
  assert.strictEqual(formatBytes(14.5e9), '14.5 GB');
});
