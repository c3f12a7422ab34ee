import * as fs from 'fs';
import * as path from 'path';

/**
 * A file written under a temporary name beside its final path and renamed into place by `commit`
 * (after fsync), so readers only ever see the old or the complete new content; `abort` removes the
 * temporary file. Bytes are appended (`append`) or patched at an offset already written (`writeAt`).
 */
export class AtomicFile {
  readonly tmp: string;
  private readonly fd: number;
  private open = true;
  /** bytes appended so far */
  size = 0;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
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
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
    }
    fs.renameSync(this.tmp, this.file);
  }

  /** Close and remove the temporary file (nothing is left behind); does nothing after commit. */
  abort(): void {
    if (!this.open) return;
    this.open = false;
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Write a file so that readers only ever see the old or the complete new content (write to a temp file, fsync, rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array | Uint8Array[]): void {
  const f = new AtomicFile(file);
  try {
    for (const part of Array.isArray(data) ? data : [data]) f.append(typeof part === 'string' ? Buffer.from(part, 'utf8') : part);
    f.commit();
  } catch (e) {
    f.abort();
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
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => void | Promise<void>): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (fs.existsSync(dir)) {
    const old = `${tmp}.old`;
    fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, dir);
  }
}
