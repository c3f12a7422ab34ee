import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import * as zlib from 'zlib';
import { resolveRepo, ResolveOptions } from '../hub/resolve';
import { listSnapshotFiles, globToRegExp } from '../hub/cache';
import { seededRandom, shuffleInPlace } from './random';

/** Options for reading documents from files. */
export interface TextReadOptions {
  /** field of a .jsonl record / parquet column holding the text (default 'text') */
  column?: string;
  /** .txt files: one document per line (default, as `datasets`' text loader) or the whole file as one */
  txtMode?: 'line' | 'file';
}

const TEXT_EXTS = ['.jsonl', '.json', '.parquet', '.txt'];

/** The data extension of a file name, seeing through a trailing .gz (`a.jsonl.gz` -> '.jsonl'). */
function dataExt(file: string): string {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  return path.extname(f);
}

/** Lines of a (possibly gzip-compressed) text file, streamed. */
function lineReader(file: string): readline.Interface {
  const raw = fs.createReadStream(file);
  const input = file.toLowerCase().endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw;
  input.setEncoding('utf8');
  return readline.createInterface({ input, crlfDelay: Infinity });
}

/** True when the file is a data file this module reads (.jsonl, .json lines, .parquet, .txt). */
export function isTextDataFile(file: string): boolean {
  return TEXT_EXTS.includes(dataExt(file)) && !(file.toLowerCase().endsWith('.parquet.gz'));
}

async function* jsonlTexts(file: string, column: string): AsyncGenerator<string> {
  const rl = lineReader(file);
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      if (!line.trim()) continue;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${lineNo}: not valid JSON (${(e as Error).message})`);
      }
      const v = (rec as Record<string, unknown> | null)?.[column];
      if (typeof v !== 'string') {
        const keys = rec && typeof rec === 'object' ? Object.keys(rec).join(', ') : typeof rec;
        throw new Error(`${file}:${lineNo}: field '${column}' is ${v === undefined ? 'missing' : `a ${typeof v}, not a string`} (fields: ${keys}); pass column: '<name>'`);
      }
      yield v;
    }
  } finally {
    rl.close();
  }
}

async function* lineTexts(file: string): AsyncGenerator<string> {
  const rl = lineReader(file);
  try {
    for await (const line of rl) if (line.length) yield line;
  } finally {
    rl.close();
  }
}

/** An AsyncBuffer (hyparquet's file interface) reading slices of a local file on demand. */
function fileAsyncBuffer(file: string): { byteLength: number; slice(start: number, end?: number): Promise<ArrayBuffer> } {
  const size = fs.statSync(file).size;
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const n = Math.max(0, Math.min(end, size) - start);
      const ab = new ArrayBuffer(n);
      const fh = await fs.promises.open(file, 'r');
      try {
        let off = 0;
        while (off < n) {
          const { bytesRead } = await fh.read(new Uint8Array(ab), off, n - off, start + off);
          if (bytesRead === 0) throw new Error(`${file}: unexpected end of file at byte ${start + off}`);
          off += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return ab;
    },
  };
}

async function* parquetTexts(file: string, column: string): AsyncGenerator<string> {
  const hp = require('hyparquet') as typeof import('hyparquet');
  const buf = fileAsyncBuffer(file);
  let metadata: Awaited<ReturnType<typeof hp.parquetMetadataAsync>>;
  try {
    metadata = await hp.parquetMetadataAsync(buf);
  } catch (e) {
    throw new Error(`${file}: not a readable parquet file (${(e as Error).message})`);
  }
  const columns = metadata.schema.slice(1).map((s) => s.name);
  if (!columns.includes(column)) throw new Error(`${file}: no column '${column}' (columns: ${columns.join(', ')}); pass column: '<name>'`);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await hp.parquetReadObjects({ file: buf, metadata, columns: [column], rowStart, rowEnd });
    for (const row of rows) {
      const v = (row as Record<string, unknown>)[column];
      if (v === null || v === undefined) continue;
      if (typeof v !== 'string') throw new Error(`${file}: column '${column}' holds ${typeof v} values, not text`);
      yield v;
    }
    rowStart = rowEnd;
  }
}

/**
 * Stream the documents of one local file: .jsonl / .json (JSON lines, field `column`), .parquet
 * (column `column`, one row group at a time) or .txt (lines, or the whole file). Never reads a whole
 * file into memory (except a .txt in 'file' mode, which is one document).
 */
export async function* textsFromFile(file: string, opts: TextReadOptions = {}): AsyncGenerator<string> {
  const column = opts.column ?? 'text';
  if (!fs.existsSync(file)) throw new Error(`data file ${file} does not exist`);
  const ext = dataExt(file);
  if (ext === '.jsonl' || ext === '.json') yield* jsonlTexts(file, column);
  else if (ext === '.parquet' && !file.toLowerCase().endsWith('.gz')) yield* parquetTexts(file, column);
  else if (ext === '.txt') {
    if (opts.txtMode === 'file') {
      const bytes = fs.readFileSync(file);
      yield (file.toLowerCase().endsWith('.gz') ? zlib.gunzipSync(bytes) : bytes).toString('utf8');
    }
    else yield* lineTexts(file);
  } else throw new Error(`${file}: unsupported data file type '${ext}' (use .jsonl, .parquet or .txt, optionally .jsonl.gz / .txt.gz)`);
}

/** Stream several files in order (optionally in a seeded random file order, as sharded datasets are shuffled). */
export async function* textsFromFiles(files: string[], opts: TextReadOptions & { shuffleFilesSeed?: number | string } = {}): AsyncGenerator<string> {
  const order = files.slice();
  if (opts.shuffleFilesSeed !== undefined) shuffleInPlace(order, seededRandom(opts.shuffleFilesSeed));
  for (const f of order) yield* textsFromFile(f, opts);
}

function hasSplit(dir: string, split: string): boolean {
  try {
    splitFiles(dir, split, false);
    return true;
  } catch {
    return false;
  }
}

/** Data files of a split in a dataset folder, by the hub's naming conventions (`train.jsonl`, `data/train-00000-of-00002.parquet`, `train/0000.parquet`). */
export function splitFiles(dir: string, split: string, trainFallback = true): string[] {
  const all = listSnapshotFiles(dir).filter(isTextDataFile).filter((f) => !/(^|\/)(README|\.)/i.test(f));
  const re = new RegExp(`(^|[/_.-])${split.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([/_.-]|$)`);
  const bySplit = all.filter((f) => re.test(f));
  const chosen = bySplit.length ? bySplit : split === 'train' && trainFallback ? all : [];
  if (!chosen.length) throw new Error(`no data files for split '${split}' in ${dir} (files: ${all.slice(0, 20).join(', ') || 'none'})`);
  // prefer parquet when a split is there in several formats
  const parquet = chosen.filter((f) => f.endsWith('.parquet'));
  return (parquet.length ? parquet : chosen).sort().map((f) => path.join(dir, f));
}

export interface DatasetOptions extends TextReadOptions, Omit<ResolveOptions, 'repoType' | 'files' | 'optionalFiles'> {
  /** split name (default 'train') */
  split?: string;
  /** explicit data files (paths or globs inside the repo), instead of finding the split's files */
  dataFiles?: string[];
  shuffleFilesSeed?: number | string;
}

/**
 * Stream the documents of a dataset: a local folder or data file, or a hub dataset id
 * (resolved with resolveRepo, repoType 'dataset': cache, shipped cache, then download of the
 * split's parquet/jsonl files only).
 */
export async function* textsFromDataset(nameOrPath: string, opts: DatasetOptions = {}): AsyncGenerator<string> {
  if (fs.existsSync(nameOrPath) && fs.statSync(nameOrPath).isFile()) {
    yield* textsFromFile(nameOrPath, opts);
    return;
  }
  const split = opts.split ?? 'train';
  const exts = ['parquet', 'jsonl', 'jsonl.gz', 'json', 'json.gz', 'txt'];
  const splitPatterns = exts.map((e) => `*${split}*.${e}`);
  const resolveOpts = { ...opts, repoType: 'dataset' as const };
  let dir: string;
  if (opts.dataFiles) {
    dir = (await resolveRepo(nameOrPath, { ...resolveOpts, files: opts.dataFiles })).dir;
    const res = opts.dataFiles.map(globToRegExp);
    const files = listSnapshotFiles(dir).filter((f) => res.some((re) => re.test(f))).sort().map((f) => path.join(dir, f));
    yield* textsFromFiles(files, opts);
    return;
  }
  // a cached snapshot holding this split in any format, else a download of the split's files
  let cached: string | undefined;
  for (const p of splitPatterns) {
    try {
      cached = (await resolveRepo(nameOrPath, { ...resolveOpts, files: [p], offline: true })).dir;
      break;
    } catch { /* not cached in this format */ }
  }
  if (cached) dir = cached;
  else {
    const r = await resolveRepo(nameOrPath, { ...resolveOpts, optionalFiles: splitPatterns, forceDownload: true });
    dir = r.dir;
    if (r.source !== 'local' && split === 'train' && !hasSplit(dir, split)) {
      // data files not named after the split (e.g. `pile.jsonl`): take every data file
      dir = (await resolveRepo(nameOrPath, { ...resolveOpts, optionalFiles: exts.map((e) => `*.${e}`), forceDownload: true })).dir;
    }
  }
  const files = splitFiles(dir, split);
  yield* textsFromFiles(files, opts);
}
