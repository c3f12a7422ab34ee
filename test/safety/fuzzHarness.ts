/**
 * Seeded fuzzing of every file format saelab reads from users: safetensors, torch zip checkpoints,
 * pickles, SAE cfg.json folders, experiment configs and train-sae configs. Each case is a mutation of a
 * valid file; the property is that reading it either succeeds (with well-formed results) or throws one of
 * saelab's own errors (SaelabError) naming the file, quickly. Used by test/safety/fuzz.test.ts (a few
 * hundred cases per format) and bench/fuzz.bench.ts (many more).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../lib/data/random';
import { SaelabError } from '../../lib/io/errors';
import { SafetensorsFile, writeSafetensors, TensorToWrite } from '../../lib/io/safetensors';
import { DTYPE_SIZES, Dtype } from '../../lib/io/dtypes';
import { readTorch, TorchTensor } from '../../lib/io/torch';
import { PICKLE_OPCODES, loadPickle } from '../../lib/io/pickle';
import { ZipReader, buildZip } from '../../lib/io/zip';
import { SAE } from '../../lib/sae/sae';
import { DEFAULT_CONFIG, loadConfig } from '../../lib/notebook/config';
import { readTrainSAEConfigFile } from '../../lib/cli/commands/train-sae';

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

export interface FuzzStats {
  format: string;
  cases: number;
  loaded: number;
  rejected: number;
  slowestMs: number;
  /** mutations that were not handled as they must be: "case i (how): what went wrong" */
  failures: string[];
  /** largest growth of the process's resident memory over the run, in MiB */
  rssGrowthMiB: number;
}

// ---- mutations --------------------------------------------------------------------------------------

const OPCODES = Object.values(PICKLE_OPCODES);

/**
 * Byte-level corruption: truncation, bit flips, overwrite, fill, insertion, deletion, appended garbage;
 * with `opcodes` (pickles), also a pickle opcode written over or inserted at a random byte.
 */
export function corruptBytes(src: Uint8Array, r: Rng, opcodes = false): { bytes: Uint8Array; how: string } {
  const b = Buffer.from(src);
  const pos = Math.floor(r() * Math.max(1, b.length));
  if (opcodes && r() < 0.3) {
    const op = pick(r, OPCODES);
    if (r() < 0.5) { b[pos] = op; return { bytes: b, how: `opcode ${op.toString(16)} at ${pos}` }; }
    return { bytes: Buffer.concat([b.subarray(0, pos), Buffer.from([op]), b.subarray(pos)]), how: `insert opcode ${op.toString(16)} at ${pos}` };
  }
  switch (Math.floor(r() * 7)) {
    case 0: return { bytes: b.subarray(0, pos), how: `truncate to ${pos}` };
    case 1: { const n = 1 + Math.floor(r() * 4); for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8); return { bytes: b, how: `flip ${n} bits` }; }
    case 2: { const v = Math.floor(r() * 256); b[pos] = v; return { bytes: b, how: `byte ${pos} = ${v}` }; }
    case 3: { const len = 1 + Math.floor(r() * 16); b.fill(r() < 0.5 ? 0 : 0xff, pos, Math.min(b.length, pos + len)); return { bytes: b, how: `fill ${len} at ${pos}` }; }
    case 4: { const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256))); return { bytes: Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos)]), how: `insert ${ins.length} at ${pos}` }; }
    case 5: return { bytes: Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + Math.floor(r() * 8))]), how: `delete at ${pos}` };
    default: return { bytes: Buffer.concat([b, Buffer.from(Array.from({ length: 1 + Math.floor(r() * 32) }, () => Math.floor(r() * 256)))]), how: 'append garbage' };
  }
}

const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1, 0.5, 1.5, -3, 64, 1e308, -1e308, 2 ** 53 + 2, 1e21, '', '64', '-1', '1e3', '..', '../../x', 'a/b', 'x'.repeat(2000), '\u0000',
  [], [1, 'a', null], [[]], {}, { a: 1 }, { '': null },
];
const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable'];

/** Paths to every value of a JSON tree (objects and arrays, depth-first). */
function valuePaths(v: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => valuePaths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) valuePaths((v as Record<string, unknown>)[k], [...at, k], out);
  return out;
}

/** Set an own property (also for '__proto__', which plain assignment would treat as the prototype). */
function setOwn(o: Record<string | number, unknown>, k: string | number, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** One structural mutation of a JSON value (a deep copy is changed and returned) and a description. */
export function mutateJson(value: unknown, r: Rng): { value: unknown; how: string } {
  const root = structuredClone(value);
  const paths = valuePaths(root);
  const at = pick(r, paths);
  const op = Math.floor(r() * 8);
  if (at.length === 0 && op < 2) return { value: pick(r, ODD_VALUES), how: 'replace the whole document' };
  let parent: unknown = root;
  for (const k of at.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
  const key = at[at.length - 1];
  const target = at.length ? (parent as Record<string | number, unknown>)[key] : root;
  const where = at.join('.') || '(root)';
  const p = parent as Record<string | number, unknown>;
  switch (op) {
    case 0: case 1: { const v = pick(r, ODD_VALUES); setOwn(p, key, structuredClone(v)); return { value: root, how: `${where} = ${JSON.stringify(v)?.slice(0, 40)}` }; }
    case 2: if (typeof target === 'number') { const v = pick(r, [-target, target + 0.5, target * 1e6, 0, target - 1, -1e-300]); setOwn(p, key, v); return { value: root, how: `${where}: ${target} -> ${v}` }; }
      break;
    case 3: if (!Array.isArray(parent) && at.length) { delete p[key]; return { value: root, how: `delete ${where}` }; }
      break;
    case 4: if (target && typeof target === 'object' && !Array.isArray(target)) { const k = pick(r, PROTO_KEYS); setOwn(target as Record<string, unknown>, k, structuredClone(pick(r, ODD_VALUES))); return { value: root, how: `${where}.${k} added` }; }
      break;
    case 5: if (target && typeof target === 'object' && !Array.isArray(target)) { setOwn(target as Record<string, unknown>, 'extra_field', 1); return { value: root, how: `${where}.extra_field added` }; }
      break;
    case 6: if (Array.isArray(target)) { const k = Math.floor(r() * 3); if (k === 0) target.length = 0; else if (k === 1) target.push(structuredClone(pick(r, ODD_VALUES))); else target.reverse(); return { value: root, how: `${where}: array edit ${k}` }; }
      break;
    default: break;
  }
  if (typeof target === 'string') { setOwn(p, key, pick(r, ['', '..', target + '/..', target.toUpperCase(), 'nonexistent'])); return { value: root, how: `${where}: string edit` }; }
  setOwn(p, key, null);
  return { value: root, how: `${where} = null` };
}

/** A JSON document mutated structurally or as text (truncation, stray characters, 1e999, BOM, deep nesting, duplicate keys). */
export function mutateJsonText(value: unknown, r: Rng): { text: string; how: string } {
  const k = r();
  if (k < 0.7) { const m = mutateJson(value, r); return { text: JSON.stringify(m.value, null, r() < 0.5 ? 2 : undefined) ?? 'null', how: m.how }; }
  const text = JSON.stringify(value, null, 2);
  const pos = Math.floor(r() * text.length);
  switch (Math.floor(r() * 6)) {
    case 0: return { text: text.slice(0, pos), how: `truncate text at ${pos}` };
    case 1: return { text: text.slice(0, pos) + pick(r, ['"', '{', ']', ',', '\\', '\u0000', '\uFFFF', 'NaN']) + text.slice(pos), how: `insert a character at ${pos}` };
    case 2: return { text: text.replace(/: (-?\d+(\.\d+)?)/, ': 1e999'), how: 'first number -> 1e999' };
    case 3: return { text: '\uFEFF' + text, how: 'byte order mark' };
    case 4: return { text: '['.repeat(20000) + ']'.repeat(20000), how: 'deeply nested arrays' };
    default: return { text: text.replace('{', '{"name": "a", "name": "b", '), how: 'duplicate keys' };
  }
}

// ---- the harness ----------------------------------------------------------------------------------------

async function runCases(format: string, n: number, one: (i: number) => Promise<{ loaded: boolean; how: string; label: string }>): Promise<FuzzStats> {
  const stats: FuzzStats = { format, cases: n, loaded: 0, rejected: 0, slowestMs: 0, failures: [], rssGrowthMiB: 0 };
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    let how = '?';
    try {
      const res = await one(i);
      how = res.how;
      if (res.loaded) stats.loaded++;
    } catch (e) {
      const info = (e as { fuzz?: { how: string; label: string } }).fuzz;
      how = info?.how ?? how;
      const err = (e as { cause?: unknown }).cause ?? e;
      if (!(err instanceof SaelabError)) stats.failures.push(`case ${i} (${how}): not a saelab error: ${(err as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(err)}`);
      else if (info && !err.message.includes(info.label)) stats.failures.push(`case ${i} (${how}): the message does not name ${info.label}: ${err.message}`);
      else stats.rejected++;
    }
    stats.slowestMs = Math.max(stats.slowestMs, Date.now() - t0);
    stats.rssGrowthMiB = Math.max(stats.rssGrowthMiB, (process.memoryUsage().rss - rss0) / 2 ** 20);
  }
  return stats;
}

/** Attach what a case was to an error thrown while reading it. */
function tagged(how: string, label: string, e: unknown): Error {
  const w = new Error(`${label} (${how})`) as Error & { fuzz: { how: string; label: string }; cause: unknown };
  w.fuzz = { how, label };
  w.cause = e;
  return w;
}

/** A well-formed value read from a mutated pickle: tensors hold as many elements as their shape says. */
function checkWellFormed(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof TorchTensor) {
    const n = v.shape.reduce((p, d) => p * d, 1);
    if (v.data.length !== n) throw new Error(`tensor with shape [${v.shape}] holds ${v.data.length} values`);
    if (v.data.BYTES_PER_ELEMENT !== DTYPE_SIZES[v.dtype]) throw new Error(`tensor of dtype ${v.dtype} holds ${v.data.BYTES_PER_ELEMENT}-byte elements`);
    return;
  }
  const items = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Array.isArray(v) ? v : ArrayBuffer.isView(v) ? [] : Object.values(v);
  for (const x of items) checkWellFormed(x, seen);
}

const DTYPES: Dtype[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

/** Safetensors: byte corruptions and header edits of random small files. */
export async function fuzzSafetensors(n: number, seed: number, dir: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const sources: Buffer[] = [];
  for (let s = 0; s < 8; s++) {
    const tensors: Record<string, TensorToWrite> = {};
    for (let t = 0; t < 1 + (s % 4); t++) {
      const dtype = DTYPES[(s + t) % DTYPES.length];
      const shape = Array.from({ length: 1 + ((s + t) % 3) }, (_, i) => 1 + ((s + i) % 4));
      const count = shape.reduce((a, b) => a * b, 1);
      const data = dtype === 'I64' ? BigInt64Array.from({ length: count }, (_, i) => BigInt(i - 3)) : Array.from({ length: count }, (_, i) => (dtype === 'BOOL' ? i % 2 : dtype === 'U8' ? i % 200 : i - 2));
      tensors[`t${t}`] = { dtype, shape, data };
    }
    const f = path.join(dir, `st-src${s}.safetensors`);
    writeSafetensors(f, tensors, s % 2 ? { format: 'pt' } : undefined);
    sources.push(fs.readFileSync(f));
  }
  const file = path.join(dir, 'st-case.safetensors');
  return runCases('safetensors', n, async (i) => {
    const src = sources[i % sources.length];
    let bytes: Uint8Array;
    let how: string;
    if (r() < 0.5) ({ bytes, how } = corruptBytes(src, r));
    else {
      const hlen = Number(src.readBigUInt64LE(0));
      const m = mutateJsonText(JSON.parse(src.subarray(8, 8 + hlen).toString('utf8')), r);
      const h = Buffer.from(m.text);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      bytes = Buffer.concat([len, h, src.subarray(8 + hlen)]);
      how = `header: ${m.how}`;
    }
    fs.writeFileSync(file, bytes);
    let f: SafetensorsFile;
    try {
      f = SafetensorsFile.open(file);
    } catch (e) {
      throw tagged(how, file, e);
    }
    try {
      let total = 0;
      for (const name of f.names()) {
        const raw = f.readRaw(name);
        total += raw.data.byteLength;
      }
      if (total + 8 > bytes.length) throw new Error(`case ${i}: tensors claim ${total} bytes of a ${bytes.length}-byte file`);
    } finally {
      f.close();
    }
    return { loaded: true, how, label: file };
  });
}

/** Same names, dtypes, shapes and bytes. */
function sameTensors(a: Record<string, TorchTensor>, b: Record<string, TorchTensor>): boolean {
  if (Object.keys(a).join('|') !== Object.keys(b).join('|')) return false;
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    if (x.dtype !== y.dtype || x.shape.join(',') !== y.shape.join(',') || x.data.length !== y.data.length) return false;
    const xb = Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    const yb = Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength);
    if (!xb.equals(yb)) return false;
  }
  return true;
}

/**
 * Torch zip checkpoints: corruptions of the whole file (the zip's CRCs catch changed data: a file that
 * still reads gives the original tensors) and of data.pkl inside a valid zip (well-formed results).
 */
export async function fuzzTorch(n: number, seed: number, fixtures: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const src = fs.readFileSync(path.join(fixtures, 'state_dict.pth'));
  const z = ZipReader.open(src);
  const records = z.names().map((name) => ({ name, data: z.read(name) }));
  z.close();
  const pkl = records.findIndex((e) => e.name.endsWith('/data.pkl'));
  const label = 'fuzz.pth';
  const original = readTorch(src, label) as Record<string, TorchTensor>;
  return runCases('torch zip', n, async (i) => {
    let bytes: Uint8Array;
    let how: string;
    const whole = r() < 0.5;
    if (whole) ({ bytes, how } = corruptBytes(src, r));
    else {
      const c = corruptBytes(records[pkl].data, r, true);
      bytes = Buffer.concat(buildZip(records.map((e, k) => (k === pkl ? { name: e.name, data: c.bytes } : e))));
      how = `data.pkl: ${c.how}`;
    }
    let got: unknown;
    try {
      got = readTorch(bytes, label);
      checkWellFormed(got);
    } catch (e) {
      throw tagged(how, label, e);
    }
    if (whole && !sameTensors(got as Record<string, TorchTensor>, original)) throw new Error(`case ${i} (${how}): read without error but the tensors differ from the original`);
    return { loaded: true, how, label };
  });
}

/** Pickles (protocols 0-5) of a config object. */
export async function fuzzPickle(n: number, seed: number, fixtures: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const sources = [0, 1, 2, 3, 4, 5].map((p) => fs.readFileSync(path.join(fixtures, `ll_model_cfg.p${p}.pkl`)));
  const label = 'fuzz.pkl';
  return runCases('pickle', n, async (i) => {
    const { bytes, how } = corruptBytes(sources[i % sources.length], r, true);
    try {
      checkWellFormed(loadPickle(bytes, { label }));
    } catch (e) {
      throw tagged(how, label, e);
    }
    return { loaded: true, how, label };
  });
}

/** SAE folders whose cfg.json is mutated: SAE.load either gives a working SAE or a saelab error naming the folder's file. */
export async function fuzzSaeCfg(n: number, seed: number, saeFixtures: string, dir: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const names = fs.readdirSync(saeFixtures).filter((d) => fs.existsSync(path.join(saeFixtures, d, 'cfg.json')));
  const folders = names.map((name) => {
    const d = path.join(dir, `sae-${name}`);
    fs.mkdirSync(d, { recursive: true });
    for (const f of fs.readdirSync(path.join(saeFixtures, name))) fs.copyFileSync(path.join(saeFixtures, name, f), path.join(d, f));
    return { dir: d, cfg: JSON.parse(fs.readFileSync(path.join(d, 'cfg.json'), 'utf8')) as unknown };
  });
  return runCases('SAE cfg.json', n, async (i) => {
    const f = folders[i % folders.length];
    const { text, how } = mutateJsonText(f.cfg, r);
    fs.writeFileSync(path.join(f.dir, 'cfg.json'), text);
    let sae: SAE;
    try {
      sae = await SAE.load(f.dir);
    } catch (e) {
      throw tagged(how, f.dir, e);
    }
    try {
      const width = sae.cfg.reshape_activations === 'hook_z' ? [2, sae.cfg.d_in / 2] : [sae.cfg.d_in];
      tf.tidy(() => {
        const out = sae.forward(tf.ones([2, ...width]));
        if (out.shape[0] !== 2) throw new Error(`case ${i}: forward gave shape [${out.shape}]`);
      });
    } finally {
      sae.dispose();
    }
    return { loaded: true, how, label: f.dir };
  });
}

/** Experiment configs (configs/*.json and the full default config) mutated; loadConfig accepts or names the file. */
export async function fuzzExperimentConfigs(n: number, seed: number, configsDir: string, dir: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const sources: unknown[] = [DEFAULT_CONFIG, ...fs.readdirSync(configsDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(configsDir, f), 'utf8')))];
  const file = path.join(dir, 'experiment.json');
  return runCases('experiment config', n, async (i) => {
    const { text, how } = mutateJsonText(sources[i % sources.length], r);
    fs.writeFileSync(file, text);
    try {
      const c = loadConfig(file);
      if (!/^[A-Za-z0-9._-]+$/.test(c.name) || /^\.+$/.test(c.name)) throw new Error(`case ${i}: accepted run name ${JSON.stringify(c.name)}`);
    } catch (e) {
      throw tagged(how, file, e);
    }
    return { loaded: true, how, label: file };
  });
}

/** train-sae --config files mutated; reading them accepts a complete training config or names the file. */
export async function fuzzTrainConfigs(n: number, seed: number, dir: string): Promise<FuzzStats> {
  const r = mulberry32(seed);
  const sources: unknown[] = [
    { training: { dIn: 8, dSae: 32, l1Coefficient: 5, lr: 3e-4, trainingTokens: 4096, trainBatchSizeTokens: 256, architecture: 'standard', useGhostGrads: true }, activations: { files: ['a.safetensors'], tensor: 'x' } },
    { training: { dSae: 16, architecture: 'topk', k: 4, trainingTokens: 2048, trainBatchSizeTokens: 128, lrScheduler: 'cosineannealing', lrWarmUpSteps: 2 }, model: 'gpt2', hookName: 'blocks.0.hook_resid_post', dataset: 'd', contextSize: 64, contextsPerBatch: 4 },
    { training: { dIn: 4, architecture: 'jumprelu', l0Coefficient: 1, trainingTokens: 1000, trainBatchSizeTokens: 100, metadata: { hook_name: 'h' } }, model: 'm', hookName: 'h', contexts: [[1, 2, 3]] },
  ];
  const file = path.join(dir, 'train.json');
  return runCases('train-sae config', n, async (i) => {
    const { text, how } = mutateJsonText(sources[i % sources.length], r);
    fs.writeFileSync(file, text);
    try {
      readTrainSAEConfigFile(file);
    } catch (e) {
      throw tagged(how, file, e);
    }
    return { loaded: true, how, label: file };
  });
}
