import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic';
import { SafetensorsError, SafetensorsReader, RawTensor, TensorToWrite, decodeHeader, headerLength, parseHeaderJson, serializeSafetensors } from './safetensorsCore';

export * from './safetensorsCore';

/**
 * A safetensors file opened for per-tensor reads: only the header is read up front, each tensor is
 * read from its own offsets, so a checkpoint larger than memory can be loaded tensor by tensor.
 */
export class SafetensorsFile extends SafetensorsReader {
  private fd: number | null;

  private constructor(file: string, fd: number, tensors: SafetensorsReader['tensors'], metadata: Record<string, string>) {
    super(file, tensors, metadata);
    this.fd = fd;
  }

  /** Open and validate the header. Throws SafetensorsError naming the file and the problem. */
  static open(file: string): SafetensorsFile {
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
      return new SafetensorsFile(file, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  protected readBytes(start: number, byteLength: number): ArrayBuffer {
    if (this.fd === null) throw new SafetensorsError(this.file, 'file is closed');
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
