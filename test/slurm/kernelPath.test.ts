import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../helpers';
import { checkoutKernelPath } from '../../lib/pipeline/notebooks';

test('the pipeline kernel spec runs this checkout\'s tslab (a private JUPYTER_PATH folder), rewritten only when it changed', () => {
  const root = tmpDir();
  assert.throws(() => checkoutKernelPath(root), /node_modules\/\.bin\/tslab not found: run npm ci/);
  const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
  fs.mkdirSync(path.dirname(tslab), { recursive: true });
  fs.writeFileSync(tslab, '');
  const dir = checkoutKernelPath(root);
  assert.strictEqual(dir, path.join(root, 'build', 'jupyter'));
  const file = path.join(dir, 'kernels', 'tslab', 'kernel.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.deepStrictEqual(spec.argv, [tslab, 'kernel', '--config-path', '{connection_file}']);
  assert.strictEqual(spec.language, 'typescript');
  const before = fs.statSync(file).mtimeMs;
  fs.utimesSync(file, new Date(0), new Date(0));
  checkoutKernelPath(root);
  assert.strictEqual(fs.statSync(file).mtimeMs, 0, 'an unchanged spec is not rewritten');
  fs.writeFileSync(file, '{"argv": ["/elsewhere/tslab"]}');
  checkoutKernelPath(root);
  assert.strictEqual(JSON.parse(fs.readFileSync(file, 'utf8')).argv[0], tslab);
  assert.ok(before > 0);
});
