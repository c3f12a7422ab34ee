import * as fs from 'fs';
import * as path from 'path';
import { FolderError, SaelabError } from './errors';
import { FOLDER_MARKER } from './folders';

/** A temporary name beside `file`: `<file>.tmp-<pid>-<random>` (removeStaleTemps clears those of dead processes). */
export function tempNameFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A write error naming `file` (and saying when a folder of that name is in the way). */
function writeError(file: string, e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EISDIR' || err.code === 'ENOTEMPTY' || err.code === 'EEXIST') return new SaelabError(`${file}: cannot write the file: a folder of that name exists`);
  if (err.code) return new SaelabError(`${file}: cannot write the file (${err.code}: ${err.message})`);
  return e;
}

/**
 * A file written under a temporary name beside its final path (tempNameFor) and renamed into place by
 * `commit` (after fsync), so readers only ever see the old or the complete new content; `abort`, or a
 * failing commit, removes the temporary file. Bytes are appended (`append`) or patched at an offset
 * already written (`writeAt`). Errors name the file.
 */
export class AtomicFile {
  readonly tmp: string;
  private readonly fd: number;
  private open = true;
  /** bytes appended so far */
  size = 0;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.tmp = tempNameFor(file);
    this.fd = fs.openSync(this.tmp, 'w');
  }

  append(bytes: Uint8Array): void {
    this.writeAt(this.size, bytes);
    this.size += bytes.byteLength;
  }

  writeAt(offset: number, bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.byteLength) off += fs.writeSync(this.fd, bytes, off, bytes.byteLength - off, offset + off);
  }

  /** fsync, close and rename into place. */
  commit(): void {
    if (!this.open) throw new Error(`${this.file}: already committed or aborted`);
    this.open = false;
    try {
      try {
        fs.fsyncSync(this.fd);
      } finally {
        fs.closeSync(this.fd);
      }
      fs.renameSync(this.tmp, this.file);
    } catch (e) {
      fs.rmSync(this.tmp, { force: true });
      throw writeError(this.file, e);
    }
  }

  /** Close and remove the temporary file (nothing is left behind); does nothing after commit. */
  abort(): void {
    if (!this.open) return;
    this.open = false;
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * Write a file so that readers only ever see the old or the complete new content (write to a temp file,
 * fsync, rename). The temporary file is removed whatever fails; errors name `file`.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Uint8Array[]): void {
  const f = new AtomicFile(file);
  try {
    for (const part of Array.isArray(data) ? data : [data]) f.append(typeof part === 'string' ? Buffer.from(part, 'utf8') : part);
  } catch (e) {
    f.abort();
    throw writeError(file, e);
  }
  f.commit();
}

/** Write JSON atomically (pretty-printed, trailing newline). */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Build a directory atomically: `fill` writes into a temporary sibling folder, which is renamed
 * over `dir` only when `fill` returns. An interruption leaves at most a `.tmp-*` folder behind.
 * An existing `dir` is replaced only when the new content rewrites everything in it (or saelab's marker
 * says saelab made it): a folder holding anything else is refused (FolderError) and left as it is.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = tempNameFor(path.join(parent, `.${path.basename(dir)}`));
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    if (fs.existsSync(dir)) {
      if (!fs.statSync(dir).isDirectory()) throw new FolderError(`${dir}: not replaced: it is a file, not a folder`);
      const fresh = new Set(fs.readdirSync(tmp));
      const lost = fs.readdirSync(dir).filter((f) => !fresh.has(f) && f !== FOLDER_MARKER);
      if (lost.length && !fs.existsSync(path.join(dir, FOLDER_MARKER))) {
        throw new FolderError(`${dir}: not replaced: it holds ${lost.slice(0, 5).join(', ')}${lost.length > 5 ? ', ...' : ''}, which the new content does not rewrite; ` +
          'saelab never deletes what it did not create: save into a new or empty folder');
      }
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (fs.existsSync(dir)) {
    if (fs.existsSync(path.join(dir, FOLDER_MARKER)) && !fs.existsSync(path.join(tmp, FOLDER_MARKER))) fs.copyFileSync(path.join(dir, FOLDER_MARKER), path.join(tmp, FOLDER_MARKER));
    const old = `${tmp}.old`;
    fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, dir);
  }
}
