import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CONFIG_GLOBALS, PickleError, PickleObject, PyFloat, PyGlobal, PyTupleValue, dataClassGlobal, dumpPickle, loadPickle } from '../../lib/io/pickle';
import { REPO_ROOT } from '../helpers';

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'torch');

type Expect = { str?: string; bool?: boolean; int?: string; float?: number | 'inf'; negzero?: boolean; bytes?: number[]; json?: unknown; set?: unknown[]; map?: Array<[unknown, unknown]> };

function checkValue(key: string, got: unknown, e: Expect): void {
  const where = `cfg.${key}`;
  if (e.str !== undefined) assert.strictEqual(got, e.str, where);
  else if (e.bool !== undefined) assert.strictEqual(got, e.bool, where);
  else if (e.int !== undefined) {
    const big = BigInt(e.int);
    if (Number.isSafeInteger(Number(big)) && BigInt(Number(big)) === big) assert.strictEqual(got, Number(big), where);
    else assert.strictEqual(got, big, where);
  } else if (e.float !== undefined) {
    if (e.float === 'inf') assert.strictEqual(got, Infinity, where);
    else assert.strictEqual(got, e.float, where);
    if (e.negzero) assert.ok(Object.is(got, -0), `${where} is -0.0`);
  } else if (e.bytes) assert.deepStrictEqual([...(got as Uint8Array)], e.bytes, where);
  else if (e.set) assert.deepStrictEqual([...(got as Set<unknown>)].sort(), e.set, where);
  else if (e.map) assert.deepStrictEqual([...(got as Map<unknown, unknown>).entries()], e.map, where);
  else assert.deepStrictEqual(got, e.json, where);
}

test('InterpBench-like config pickles read identically in protocols 0-5 (numpy scalars, torch dtypes and devices)', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'll_model_cfg.expected.json'), 'utf8')) as Record<string, Expect>;
  for (let proto = 0; proto <= 5; proto++) {
    const cfg = loadPickle(path.join(FIX, `ll_model_cfg.p${proto}.pkl`)) as Record<string, unknown>;
    assert.deepStrictEqual(Object.keys(cfg), Object.keys(expected), `protocol ${proto} keys in order`);
    for (const [k, e] of Object.entries(expected)) checkValue(k, cfg[k], e);
  }
});

test('a config pickled as a HookedTransformerConfig object is refused by default and read as data when allowed', () => {
  const file = path.join(FIX, 'cfg_object.pkl');
  assert.throws(() => loadPickle(file), (e: Error) => e instanceof PickleError && e.message.includes('cfg_object.pkl') &&
    e.message.includes('transformer_lens.HookedTransformerConfig.HookedTransformerConfig'));
  const obj = loadPickle(file, { allow: [...CONFIG_GLOBALS, dataClassGlobal('transformer_lens.HookedTransformerConfig', 'HookedTransformerConfig')] });
  assert.ok(obj instanceof PickleObject);
  assert.deepStrictEqual({ ...(obj as PickleObject).state }, {
    n_layers: 2, d_model: 12, n_ctx: 5, d_head: 3, n_heads: 4, act_fn: 'relu', d_vocab: 6, d_vocab_out: 1,
    normalization_type: null, dtype: 'float32', device: 'cuda',
  });
});

test('memo references keep shared and cyclic structure', () => {
  // protocol 2: l = [] ; l.append(l) ; t = (l, l)   -> hand-assembled opcodes
  const bytes = Uint8Array.from([0x80, 0x02, 0x5d, 0x71, 0x00, 0x68, 0x00, 0x61, 0x68, 0x00, 0x68, 0x00, 0x86, 0x2e]);
  const t = loadPickle(bytes) as unknown[][];
  assert.strictEqual(t.length, 2);
  assert.strictEqual(t[0], t[1]);
  assert.strictEqual(t[0][0], t[0]);
});

test('protocol 0 text opcodes: INT, LONG, FLOAT, STRING, UNICODE, DICT, TUPLE', () => {
  const src = "(dp0\nS'a\\n'\np1\nI42\nsVb\\u00e9\np2\n(I01\nL123456789012345678901L\nF-2.5\ntp3\ns.";
  const v = loadPickle(Buffer.from(src, 'latin1')) as Record<string, unknown>;
  assert.deepStrictEqual(v, { 'a\n': 42, 'bé': [true, 123456789012345678901n, -2.5] });
});

test('dumpPickle writes hand-assembled opcodes (pickle.loads gives the same value: see tools/check_torch_writer.py)', () => {
  // PROTO 4, EMPTY_DICT, MARK, BINUNICODE 'a', BININT1 1, SETITEMS, STOP
  assert.deepStrictEqual([...dumpPickle({ a: 1 })], [0x80, 4, 0x7d, 0x28, 0x58, 1, 0, 0, 0, 0x61, 0x4b, 1, 0x75, 0x2e]);
  // 1.5 as BINFLOAT big-endian 3ff8000000000000; -1 as BININT (4-byte); 300 as BININT2; 2**40 as LONG1 (6 bytes)
  assert.deepStrictEqual([...dumpPickle([1.5, -1, 300, 2 ** 40])], [
    0x80, 4, 0x5d, 0x28, 0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4d, 0x2c, 0x01,
    0x8a, 6, 0, 0, 0, 0, 0, 1, 0x65, 0x2e]);
  const value = { n: 3, f: new PyFloat(2), s: 'x', t: new PyTupleValue([1, null]), d: new PyGlobal('torch', 'float32'), b: true, big: -(2n ** 70n), m: new Map([[1, 'one']]) };
  const back = loadPickle(dumpPickle(value)) as Record<string, unknown>;
  assert.deepStrictEqual(back, { n: 3, f: 2, s: 'x', t: [1, null], d: 'float32', b: true, big: -(2n ** 70n), m: new Map([[1, 'one']]) });
});

test('truncated and malformed pickles give errors naming the source and the byte', () => {
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0x58, 0x10, 0, 0, 0, 0x61]), { label: 'cfg.pkl' }),
    /cfg\.pkl: pickle opcode BINUNICODE at byte 2: needs 16 bytes but only 1 remain/);
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0x4e]), { label: 'cfg.pkl' }), /cfg\.pkl: pickle ends at byte 3 without a STOP/);
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0x73, 0x2e]), { label: 'cfg.pkl' }), /SETITEM at byte 2: stack underflow/);
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0x68, 0x05, 0x2e]), { label: 'cfg.pkl' }), /memo key 5 was never stored/);
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x09, 0x2e])), /unsupported pickle protocol 9/);
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0xff])), /unknown opcode/);
  // unhashable key: {[]: 1}
  assert.throws(() => loadPickle(Uint8Array.from([0x80, 0x02, 0x7d, 0x5d, 0x4b, 0x01, 0x73, 0x2e])), /unhashable dict key or set item of type list/);
  // t = (); t = (t, t) sixty times via DUP, then {t: 1}: the key would double at each level
  const dupBomb = Buffer.concat([Buffer.from([0x80, 0x02, 0x7d, 0x29]), Buffer.from(Array(60).fill([0x32, 0x86]).flat()), Buffer.from([0x4b, 0x01, 0x73, 0x2e])]);
  const t0 = Date.now();
  assert.throws(() => loadPickle(dupBomb, { label: 'bomb.pkl' }), /bomb\.pkl: a tuple used as a dict key or set item is too large/);
  assert.ok(Date.now() - t0 < 2000);
  // a deeply nested list does not overflow the JS stack into a crash
  const deep = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(100000, 0x5d), Buffer.alloc(99999, 0x61), Buffer.from([0x2e])]);
  try {
    const v = loadPickle(deep);
    assert.ok(Array.isArray(v));
  } catch (e) {
    assert.ok(e instanceof PickleError, String(e));
  }
});
