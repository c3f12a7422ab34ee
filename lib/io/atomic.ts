import * as fs from 'fs';
import * as path from 'path';
import { FolderError, SaelabError } from './errors';
import { FOLDER_MARKER } from './folders';

/** A temporary name beside `file`: `<file>.tmp-<pid>-<random>` (removeStaleTemps clears those of dead processes). */
export function tempNameFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Write a file so that readers only ever see the old or the complete new content (write to a temp file,
 * fsync, rename). The temporary file is removed whatever fails; errors name `file`.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Uint8Array[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempNameFor(file);
  const fd = fs.openSync(tmp, 'w');
  try {
    try {
      const parts = Array.isArray(data) ? data : [data];
      for (const part of parts) {
        const buf = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
        let off = 0;
        while (off < buf.byteLength) off += fs.writeSync(fd, buf, off, buf.byteLength - off);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EISDIR' || err.code === 'ENOTEMPTY' || err.code === 'EEXIST') throw new SaelabError(`${file}: cannot write the file: a folder of that name exists`);
    if (err.code) throw new SaelabError(`${file}: cannot write the file (${err.code}: ${err.message})`);
    throw e;
  }
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
