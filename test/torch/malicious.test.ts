import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { PickleError, loadPickle } from '../../lib/io/pickle';
import { TorchCheckpointError, readTorch, loadTorchCheckpoint } from '../../lib/io/torch';
import { buildZip } from '../../lib/io/zip';
import { tmpDir } from '../helpers';

const dir = tmpDir('saelab-malicious-');
const marker = path.join(dir, 'PWNED');

/** Opcode helpers: each returns bytes of a pickle fragment. */
const b = (...xs: Array<number | string | Uint8Array>): Buffer => Buffer.concat(xs.map((x) => typeof x === 'number' ? Buffer.from([x]) : typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from(x)));
const binunicode = (s: string): Buffer => { const u = Buffer.from(s, 'utf8'); const n = Buffer.alloc(4); n.writeUInt32LE(u.length); return b(0x58, n, u); };
const GLOBAL = (m: string, n: string): Buffer => b('c', `${m}\n${n}\n`);
const STACK_GLOBAL = (m: string, n: string): Buffer => b(binunicode(m), binunicode(n), 0x93);
const cmd = `touch ${marker}`;

// Each payload would run `touch <marker>` (or equivalent) if the unpickler called the global.
const payloads: Array<[string, Buffer, string]> = [
  ['os.system via GLOBAL + REDUCE', b(0x80, 2, GLOBAL('os', 'system'), binunicode(cmd), 0x85, 0x52, 0x2e), 'os.system'],
  ['posix.system (how Linux pickles os.system)', b(0x80, 2, GLOBAL('posix', 'system'), binunicode(cmd), 0x85, 0x52, 0x2e), 'posix.system'],
  ['builtins.eval via STACK_GLOBAL', b(0x80, 4, STACK_GLOBAL('builtins', 'eval'), binunicode(`__import__('os').system('${cmd}')`), 0x85, 0x52, 0x2e), 'builtins.eval'],
  ['builtins.exec via STACK_GLOBAL', b(0x80, 4, STACK_GLOBAL('builtins', 'exec'), binunicode(`import os; os.system('${cmd}')`), 0x85, 0x52, 0x2e), 'builtins.exec'],
  ['__builtin__.eval (protocol 0 name)', b(GLOBAL('__builtin__', 'eval'), '(V', `__import__('os').system('${cmd}')`, '\ntR.'), '__builtin__.eval'],
  ['subprocess.Popen with an argument list', b(0x80, 2, GLOBAL('subprocess', 'Popen'), 0x5d, 0x28, binunicode('touch'), binunicode(marker), 0x65, 0x85, 0x52, 0x2e), 'subprocess.Popen'],
  ['INST opcode', b('(V', cmd, '\nios\nsystem\n.'), 'os.system'],
  ['OBJ opcode', b(0x28, GLOBAL('os', 'system'), binunicode(cmd), 0x6f, 0x2e), 'os.system'],
  ['hidden inside an allowed OrderedDict', b(0x80, 2, GLOBAL('collections', 'OrderedDict'), 0x29, 0x52, 0x28, binunicode('cfg'), GLOBAL('os', 'system'), binunicode(cmd), 0x85, 0x52, 0x75, 0x2e), 'os.system'],
  ['copyreg._reconstructor', b(0x80, 2, GLOBAL('copyreg', '_reconstructor'), 0x28, GLOBAL('os', 'system'), GLOBAL('builtins', 'object'), 0x4e, 0x74, 0x52, 0x2e), 'copyreg._reconstructor'],
  ['torch.load itself', b(0x80, 2, GLOBAL('torch', 'load'), binunicode('/tmp/x'), 0x85, 0x52, 0x2e), 'torch.load'],
  ['a tensor rebuild global outside a checkpoint', b(0x80, 2, GLOBAL('torch._utils', '_rebuild_tensor_v2'), 0x29, 0x52, 0x2e), 'torch._utils._rebuild_tensor_v2'],
];

test('malicious pickles are refused naming the file and module.name, and nothing runs', () => {
  for (const [what, bytes, global] of payloads) {
    const file = path.join(dir, `${what.replace(/\W+/g, '_')}.pkl`);
    fs.writeFileSync(file, bytes);
    assert.throws(() => loadPickle(file), (e: Error) => {
      assert.ok(e instanceof PickleError, `${what}: ${e}`);
      assert.ok(e.message.startsWith(`${file}:`), `${what}: message names the file: ${e.message}`);
      assert.ok(e.message.includes(`global ${global},`), `${what}: message names ${global}: ${e.message}`);
      return true;
    }, what);
    assert.ok(!fs.existsSync(marker), `${what}: marker file must not exist`);
  }
});

test('allowed globals cannot be abused: value-only globals are not callable, extensions are refused', () => {
  // torch.float32 is data; calling it is refused
  assert.throws(() => loadPickle(b(0x80, 2, GLOBAL('torch', 'float32'), 0x29, 0x52, 0x2e), { label: 'x.pkl' }), /x\.pkl: .*torch\.float32 is allowed only as a value, not called/);
  // EXT1 names a global by a registry number
  assert.throws(() => loadPickle(b(0x80, 2, 0x82, 0x01, 0x2e), { label: 'x.pkl' }), /x\.pkl: .*EXT1.*refused/);
  // REDUCE on a non-global (a string)
  assert.throws(() => loadPickle(b(0x80, 2, binunicode('os.system'), 0x29, 0x52, 0x2e), { label: 'x.pkl' }), /cannot call "os\.system": only allowed globals are callable/);
  // persistent ids outside a checkpoint
  assert.throws(() => loadPickle(b(0x80, 2, binunicode('x'), 0x51, 0x2e), { label: 'x.pkl' }), /persistent ids are only read inside a torch checkpoint/);
  assert.ok(!fs.existsSync(marker));
});

test('a torch checkpoint whose data.pkl calls os.system is refused naming the file and the global', async () => {
  const file = path.join(dir, 'evil.pth');
  const pkl = b(0x80, 2, GLOBAL('collections', 'OrderedDict'), 0x29, 0x52, 0x28, binunicode('w'), GLOBAL('os', 'system'), binunicode(cmd), 0x85, 0x52, 0x75, 0x2e);
  fs.writeFileSync(file, Buffer.concat(buildZip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/version', data: Buffer.from('3\n') }], { align: 64 })));
  await assert.rejects(loadTorchCheckpoint(file), (e: Error) => e instanceof TorchCheckpointError && e.message.startsWith(`${file}:`) && e.message.includes('global os.system,'));
  assert.throws(() => readTorch(file), /evil\.pth: .*global os\.system, which is not on the allow-list/);
  assert.ok(!fs.existsSync(marker));
});
