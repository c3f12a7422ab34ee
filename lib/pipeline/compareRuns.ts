import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile } from '../io/safetensors';

/** Tolerances for float results: |a - b| <= atol + rtol * |b| (float32 rounding of differently ordered sums). */
export interface CompareTolerance {
  rtol: number;
  atol: number;
}

export const FLOAT32_TOLERANCE: CompareTolerance = { rtol: 1e-5, atol: 1e-6 };

/** Files that differ between runs by nature (times, shard bookkeeping, logs, the last recorded activity). */
const SKIP = /(^|\/)(manifest\.json|shards|logs|\.saelab-shared|\.saelab-folder|\.activity\.json)$/;
/**
 * JSON keys that record how or when a result was obtained (reuse, wall-clock times, throughput, file records,
 * the memory a collection held: a sharded stage 07's peak is its largest shard's), not what it is.
 */
const SKIP_KEYS = new Set(['reused', 'createdAt', 'seconds', 'elapsedS', 'elapsed_s', 'tokens_per_second', 'mtimeMs', 'sha256', 'peak_pairs_in_memory', 'spills']);

/** A file's record (size, mtime, SHA-256: an ArtifactRecord) inside a JSON file: how the file was stored; the file itself is compared. */
function isFileRecord(v: object): boolean {
  const k = Object.keys(v).sort();
  return k.length === 3 && k[0] === 'mtimeMs' && k[1] === 'sha256' && k[2] === 'size';
}

function close(a: number, b: number, t: CompareTolerance): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  return Math.abs(a - b) <= t.atol + t.rtol * Math.abs(b);
}

/** Differences between two JSON values (numbers within tolerance), as "path: a vs b" lines. */
export function compareJson(a: unknown, b: unknown, t: CompareTolerance = FLOAT32_TOLERANCE, at = '$', out: string[] = []): string[] {
  if (out.length > 20) return out;
  if (typeof a === 'number' && typeof b === 'number') {
    if (!close(a, b, t)) out.push(`${at}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${at}: length ${a.length} vs ${b.length}`);
    else a.forEach((v, i) => compareJson(v, b[i], t, `${at}[${i}]`, out));
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    if (isFileRecord(a) && isFileRecord(b)) return out;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => !SKIP_KEYS.has(k)));
    for (const k of keys) {
      if (!(k in (a as object))) out.push(`${at}.${k}: missing in the first`);
      else if (!(k in (b as object))) out.push(`${at}.${k}: missing in the second`);
      else compareJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], t, `${at}.${k}`, out);
    }
  } else if (a !== b) {
    out.push(`${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  return out;
}

function compareSafetensors(fa: string, fb: string, t: CompareTolerance): string[] {
  const a = SafetensorsFile.open(fa);
  const b = SafetensorsFile.open(fb);
  try {
    const out: string[] = [];
    const names = a.names().sort();
    if (names.join() !== b.names().sort().join()) return [`tensors [${names}] vs [${b.names().sort()}]`];
    for (const n of names) {
      const ia = a.info(n);
      const ib = b.info(n);
      if (ia.dtype !== ib.dtype || ia.shape.join() !== ib.shape.join()) { out.push(`${n}: ${ia.dtype}[${ia.shape}] vs ${ib.dtype}[${ib.shape}]`); continue; }
      const da = a.readRaw(n).data as ArrayLike<number>;
      const db = b.readRaw(n).data as ArrayLike<number>;
      let bad = 0;
      let first = -1;
      for (let i = 0; i < da.length; i++) if (!close(Number(da[i]), Number(db[i]), t)) { bad++; if (first < 0) first = i; }
      if (bad) out.push(`${n}: ${bad} of ${da.length} values differ (first at ${first}: ${da[first]} vs ${db[first]})`);
    }
    return out;
  } finally {
    a.close();
    b.close();
  }
}

/** A JSON-lines file (training metrics) as an array of its records. */
function readJsonLines(file: string): unknown[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function listFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (SKIP.test(r)) continue;
    if (e.isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out.sort();
}

/**
 * Compare two run folders (runs/<a>, runs/<b>): the same artifact files; JSON (results.json,
 * outlier_cfg.json), JSON lines (training metrics) and safetensors values equal within `t`, wall-clock
 * fields (elapsedS, seconds, tokens_per_second, createdAt) aside; other files byte-equal. Manifests, executed
 * notebooks, shard folders and logs are left out. Returns "file: difference" lines (empty: the same).
 */
export function compareRuns(a: string, b: string, t: CompareTolerance = FLOAT32_TOLERANCE): string[] {
  const fa = listFiles(a);
  const fb = listFiles(b);
  const out: string[] = [];
  for (const f of fa.filter((x) => !fb.includes(x))) out.push(`${f}: only in ${a}`);
  for (const f of fb.filter((x) => !fa.includes(x))) out.push(`${f}: only in ${b}`);
  for (const f of fa.filter((x) => fb.includes(x))) {
    const pa = path.join(a, f);
    const pb = path.join(b, f);
    let diffs: string[];
    if (/\.(ipynb|html)$/.test(f)) diffs = []; // executed notebooks: present in both is what counts (outputs hold times)
    else if (f.endsWith('.json')) diffs = compareJson(JSON.parse(fs.readFileSync(pa, 'utf8')), JSON.parse(fs.readFileSync(pb, 'utf8')), t);
    else if (f.endsWith('.jsonl')) diffs = compareJson(readJsonLines(pa), readJsonLines(pb), t);
    else if (f.endsWith('.safetensors')) diffs = compareSafetensors(pa, pb, t);
    else diffs = fs.readFileSync(pa).equals(fs.readFileSync(pb)) ? [] : ['contents differ'];
    for (const d of diffs) out.push(`${f}: ${d}`);
  }
  return out;
}

/** `node dist/lib/pipeline/compareRuns.js RUN_A RUN_B`: exit 1 listing the differences. */
if (require.main === module) {
  const [a, b] = process.argv.slice(2);
  if (!a || !b) {
    console.error('usage: node dist/lib/pipeline/compareRuns.js runs/<a> runs/<b>');
    process.exit(2);
  }
  const diffs = compareRuns(a, b);
  const files = listFiles(a).length;
  if (diffs.length) {
    console.error(`runs differ (${diffs.length} differences):\n${diffs.slice(0, 40).join('\n')}`);
    process.exit(1);
  }
  console.log(`runs ${a} and ${b} hold the same ${files} artifact files (floats within rtol ${FLOAT32_TOLERANCE.rtol}, atol ${FLOAT32_TOLERANCE.atol})`);
}
