import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsStreamWriter } from '../lib/io/safetensorsStream';
import { SafetensorsPositionalWriter } from '../lib/io/safetensorsPositional';
import { SafetensorsFile } from '../lib/io/safetensors';
import { tmpDir } from './helpers';

test('streamed safetensors equal the values appended, across tensor boundaries', () => {
  const file = path.join(tmpDir(), 's.safetensors');
  const w = new SafetensorsStreamWriter(file, [{ name: 'a', dtype: 'F32', shape: [2, 3] }, { name: 'b', dtype: 'I32', shape: [4] }], { k: 'v' });
  w.append(new Float32Array([1, 2, 3, 4]));
  w.append([5, 6, 7, 8]); // 5, 6 finish 'a'; 7, 8 start 'b'
  assert.ok(!fs.existsSync(file), 'nothing at the final path before close');
  w.append(new Int32Array([9, 10]));
  w.close();
  const f = SafetensorsFile.open(file);
  assert.deepStrictEqual([...f.readFloat32('a')], [1, 2, 3, 4, 5, 6]);
  assert.deepStrictEqual([...(f.readRaw('b').data as Int32Array)], [7, 8, 9, 10]);
  assert.deepStrictEqual(f.metadata, { k: 'v' });
  f.close();
});

test('closing early leaves no file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'x.safetensors');
  const w = new SafetensorsStreamWriter(file, [{ name: 'a', dtype: 'F32', shape: [3] }]);
  w.append([1]);
  assert.throws(() => w.close(), /closed before all data was written \(tensor 'a' incomplete\)/);
  assert.deepStrictEqual(fs.readdirSync(dir), []);
});

test('positional writes in any order make the same file; an incomplete one leaves nothing', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'p.safetensors');
  const w = new SafetensorsPositionalWriter(file, [{ name: 'a', dtype: 'F32', shape: [2, 3] }, { name: 'b', dtype: 'I32', shape: [4] }], { k: 'v' });
  const writes = [w.write('b', 2, new Int32Array([9, 10])), w.write('a', 3, new Float32Array([4, 5, 6])), w.write('b', 0, [7, 8]), w.write('a', 0, new Float32Array([1, 2, 3]))];
  assert.ok(!fs.existsSync(file), 'nothing at the final path before close');
  await Promise.all(writes);
  await w.close();
  const f = SafetensorsFile.open(file);
  assert.deepStrictEqual([...f.readFloat32('a')], [1, 2, 3, 4, 5, 6]);
  assert.deepStrictEqual([...(f.readRaw('b').data as Int32Array)], [7, 8, 9, 10]);
  assert.deepStrictEqual(f.metadata, { k: 'v' });
  f.close();
  const file2 = path.join(dir, 'q.safetensors');
  const w2 = new SafetensorsPositionalWriter(file2, [{ name: 'a', dtype: 'F32', shape: [3] }]);
  await w2.write('a', 0, new Float32Array([1, 2]));
  await assert.rejects(() => w2.close(), /tensor 'a' got 2 of its 3 values; nothing was written/);
  const w3 = new SafetensorsPositionalWriter(file2, [{ name: 'a', dtype: 'F32', shape: [3] }]);
  assert.throws(() => w3.write('a', 2, new Float32Array([1, 2])), /outside its 3/);
  await w3.abort();
  assert.deepStrictEqual(fs.readdirSync(dir), ['p.safetensors']);
});
