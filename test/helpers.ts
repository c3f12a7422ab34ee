import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../lib/backend';

/** Initialise the backend once per test file (SAELAB_BACKEND picks one, as in the library). */
export async function setupBackend(): Promise<void> {
  await initBackend();
}

/** A fresh temporary directory removed at process exit. */
export function tmpDir(prefix = 'saelab-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Assert two numeric arrays are elementwise close: |a - b| <= atol + rtol * |b|. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-5, label = ''): void {
  assert.strictEqual(actual.length, expected.length, `${label} length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      assert.fail(`${label} index ${i}: ${a} vs expected ${b} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Repository root (dist/test/.. /..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
