import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic';
import { SafetensorsError, SafetensorsReader, RawTensor, TensorToWrite, decodeHeader, headerLength, parseHeaderJson, serializeSafetensors } from './safetensorsCore';

export * from './safetensorsCore';

/** The native addon's `mapFile` (set by lib/backend/native.ts): a private mapping of a file's bytes, or null. */
export type NativeFileMapper = (fd: number, offset: number, length: number) => ArrayBuffer | null;
let fileMapper: NativeFileMapper | undefined;
/** Tensors below this size are read: a mapping costs a system call and a page of address space. */
const MAP_MIN_BYTES = 1 << 20;

/** Map instead of read where a file was opened with `{ mapped: true }` (lib/backend/native.ts sets it; SAELAB_MMAP=0 turns it off). */
export function setNativeFileMapper(fn: NativeFileMapper | undefined): void {
  fileMapper = fn;
}

/** Options of SafetensorsFile.open. */
export interface SafetensorsOpenOptions {
  /**
   * Tensors of 1 MiB or more come back as private memory mappings of the file rather than fresh reads (when the
   * native addon is loaded): no copy, and the page cache's pages are shared until written. Only for files nobody
   * rewrites in place while they are open (checkpoints, SAE weights): a file that shrinks under a mapping
   * stops the process (SIGBUS).
   */
  mapped?: boolean;
}

/**
 * A safetensors file opened for per-tensor reads: only the header is read up front, each tensor is
 * read from its own offsets, so a checkpoint larger than memory can be loaded tensor by tensor.
 */
export class SafetensorsFile extends SafetensorsReader {
  private fd: number | null;
  private readonly mapped: boolean;

  private constructor(file: string, fd: number, tensors: SafetensorsReader['tensors'], metadata: Record<string, string>, mapped: boolean) {
    super(file, tensors, metadata);
    this.fd = fd;
    this.mapped = mapped;
  }

  /** Open and validate the header. Throws SafetensorsError naming the file and the problem. */
  static open(file: string, opts: SafetensorsOpenOptions = {}): SafetensorsFile {
    let fd: number;
    try {
      if (fs.statSync(file).isDirectory()) throw new SafetensorsError(file, 'is a folder, not a safetensors file');
      fd = fs.openSync(file, 'r');
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new SafetensorsError(file, code === 'ENOENT' ? 'file does not exist' : `cannot open (${(e as Error).message})`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const lenBuf = Buffer.alloc(8);
      if (size >= 8) fs.readSync(fd, lenBuf, 0, 8, 0);
      const n = headerLength(file, lenBuf, size);
      const hbuf = Buffer.alloc(n);
      readFully(fd, hbuf, 8, file);
      const { tensors, metadata } = parseHeaderJson(file, decodeHeader(file, hbuf), 8 + n, size - 8 - n);
      return new SafetensorsFile(file, fd, tensors, metadata, opts.mapped === true && process.env.SAELAB_MMAP !== '0');
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  protected readBytes(start: number, byteLength: number): ArrayBuffer {
    if (this.fd === null) throw new SafetensorsError(this.file, 'file is closed');
    // a mapping starts where the tensor does: a 4-byte aligned start keeps 32-bit values aligned for native kernels
    if (this.mapped && fileMapper && byteLength >= MAP_MIN_BYTES && start % 4 === 0) {
      const ab = fileMapper(this.fd, start, byteLength);
      if (ab) return ab;
    }
    // uninitialised memory (no zero-fill): readFully overwrites every byte or throws
    const ab = Buffer.allocUnsafeSlow(byteLength).buffer as ArrayBuffer;
    readFully(this.fd, new Uint8Array(ab, 0, byteLength), start, this.file);
    return ab;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let off = 0;
  const CHUNK = 1 << 30;
  while (off < target.byteLength) {
    const n = fs.readSync(fd, target, off, Math.min(CHUNK, target.byteLength - off), position + off);
    if (n === 0) throw new SafetensorsError(file, `unexpected end of file at byte ${position + off} (truncated while open?)`);
    off += n;
  }
}

/** Read every tensor of a file (small files; use SafetensorsFile for per-tensor reads). */
export function loadSafetensors(file: string): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(file);
  try {
    const tensors: Record<string, RawTensor> = {};
    for (const name of f.names()) tensors[name] = f.readRaw(name);
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}

/** Write tensors (and optional string metadata) as a safetensors file, atomically. */
export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, serializeSafetensors(file, tensors, metadata));
}
/** Convenience: tfjs tensors -> safetensors (float32 tensors as F32, int32 as I32). */
export async function writeTensorsSafetensors(file: string, tensors: Record<string, tf.Tensor>, metadata?: Record<string, string>): Promise<void> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const data = await t.data();
    out[name] = { dtype: t.dtype === 'int32' ? 'I32' : t.dtype === 'bool' ? 'BOOL' : 'F32', shape: t.shape, data: data as Float32Array | Int32Array | Uint8Array };
  }
  writeSafetensors(file, out, metadata);
}
