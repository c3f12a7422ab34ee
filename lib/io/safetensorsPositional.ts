import * as fs from 'fs';
import * as path from 'path';
import { DTYPE_SIZES, Dtype } from './dtypes';
import { TensorToWrite, TypedArrayLike, encodeData } from './safetensors';
import { StreamTensorSpec } from './safetensorsStream';
import { tempNameFor } from './atomic';

/**
 * The bytes of `data` as `dtype`: a view of the same memory when `data` already is that dtype's typed array
 * (F32 as Float32Array, I32 as Int32Array, ...; no copy), else an encoded copy (encodeData).
 */
export function dataBytes(dtype: Dtype, data: TensorToWrite['data'], n: number, label: string): Uint8Array {
  const same = (dtype === 'F32' && data instanceof Float32Array) || (dtype === 'I32' && data instanceof Int32Array) || (dtype === 'F64' && data instanceof Float64Array)
    || ((dtype === 'F16' || dtype === 'BF16') && data instanceof Uint16Array) || (dtype === 'I64' && data instanceof BigInt64Array)
    || (dtype === 'I16' && data instanceof Int16Array) || (dtype === 'I8' && data instanceof Int8Array) || ((dtype === 'U8' || dtype === 'BOOL') && data instanceof Uint8Array);
  if (!same) return encodeData(dtype, data, n, label);
  if (data.length !== n) throw new Error(`${label}: data has ${data.length} values, shape needs ${n}`);
  const v = data as TypedArrayLike;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** The header bytes (length prefix + JSON) of a safetensors file holding `specs`, and each tensor's data size. */
function headerFor(specs: StreamTensorSpec[], metadata?: Record<string, string>): { bytes: Buffer; sizes: number[] } {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[s.dtype]);
  specs.forEach((s, i) => {
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + sizes[i]] };
    offset += sizes[i];
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const h = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  return { bytes: Buffer.concat([len, h]), sizes };
}

/**
 * Write a safetensors file whose tensors arrive in pieces, in any order (rows of several tensors per batch):
 * `write(name, offset, values)` puts values at element `offset` of a tensor with an asynchronous positional write
 * straight from the typed array's memory (no copy; keep the array unchanged until its promise settles), so the
 * caller computes the next batch while the disk writes this one. `close()` waits for the writes, checks that every
 * declared element was written exactly once, fsyncs and renames the file into place; `abort()` leaves nothing.
 */
export class SafetensorsPositionalWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly start = new Map<string, { index: number; byteOffset: number; elem: number; count: number }>();
  private readonly written: number[];
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | null = null;
  private closed = false;

  constructor(readonly file: string, readonly specs: StreamTensorSpec[], metadata?: Record<string, string>) {
    const { bytes, sizes } = headerFor(specs, metadata);
    let offset = bytes.byteLength;
    specs.forEach((s, i) => {
      this.start.set(s.name, { index: i, byteOffset: offset, elem: DTYPE_SIZES[s.dtype], count: sizes[i] / DTYPE_SIZES[s.dtype] });
      offset += sizes[i];
    });
    this.written = specs.map(() => 0);
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.tmp = tempNameFor(file);
    this.fd = fs.openSync(this.tmp, 'w');
    let off = 0;
    while (off < bytes.byteLength) off += fs.writeSync(this.fd, bytes, off, bytes.byteLength - off);
  }

  /** Write `values` (the tensor's dtype; typed arrays are written without a copy) at element `offset` of tensor `name`. */
  write(name: string, offset: number, values: Float32Array | Int32Array | Uint16Array | ArrayLike<number>): Promise<void> {
    if (this.closed) throw new Error(`${this.file}: writer is closed`);
    const t = this.start.get(name);
    if (!t) throw new Error(`${this.file}: no tensor '${name}' was declared (declared: ${this.specs.map((s) => s.name).join(', ')})`);
    const spec = this.specs[t.index];
    if (offset < 0 || offset + values.length > t.count) throw new Error(`${this.file}:${name}: elements [${offset}, ${offset + values.length}) are outside its ${t.count}`);
    const bytes = dataBytes(spec.dtype, values as ArrayLike<number>, values.length, `${this.file}:${name}`);
    this.written[t.index] += values.length;
    const p = writeAll(this.fd, bytes, t.byteOffset + offset * t.elem).catch((e: Error) => { this.failure ??= e; });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  /** Wait for every write, check completeness, fsync and rename into place (nothing is left on failure). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.pending]);
    const missing = this.specs.findIndex((s, i) => this.written[i] !== this.start.get(s.name)!.count);
    try {
      if (this.failure) throw this.failure;
      if (missing >= 0) {
        const s = this.specs[missing];
        throw new Error(`${this.file}: tensor '${s.name}' got ${this.written[missing]} of its ${this.start.get(s.name)!.count} values; nothing was written`);
      }
      fs.fsyncSync(this.fd);
    } catch (e) {
      fs.closeSync(this.fd);
      fs.rmSync(this.tmp, { force: true });
      throw e;
    }
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
  }

  /** Give up: wait for writes in flight, then remove the temporary file. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.pending]);
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }
}

/** fs.write until every byte of `bytes` is at `position` of fd. */
async function writeAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) {
    const n = await new Promise<number>((resolve, reject) => fs.write(fd, bytes, off, bytes.byteLength - off, position + off, (err, w) => (err ? reject(err) : resolve(w))));
    off += n;
  }
}
