import { AtomicFile } from './atomic';
import { DTYPE_SIZES, Dtype } from './dtypes';
import { encodeData } from './safetensors';

/** A tensor declared up front for streaming: its dtype and full shape. */
export interface StreamTensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

/**
 * Write a safetensors file whose tensors are larger than memory: the header is written first from the
 * declared shapes, then each tensor's data is appended in order, chunk by chunk. The file appears at
 * its final path only when `close()` has checked every byte was written (write to a temp, rename).
 */
export class SafetensorsStreamWriter {
  private readonly out: AtomicFile;
  private current = 0;
  private writtenOfCurrent = 0;
  private readonly sizes: number[];
  private closed = false;

  constructor(readonly file: string, readonly specs: StreamTensorSpec[], metadata?: Record<string, string>) {
    const header: Record<string, unknown> = {};
    if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
    let offset = 0;
    this.sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[s.dtype]);
    specs.forEach((s, i) => {
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + this.sizes[i]] };
      offset += this.sizes[i];
    });
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
    const h = Buffer.from(json, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.byteLength));
    this.out = new AtomicFile(file);
    this.out.append(len);
    this.out.append(h);
  }

  /** Append values to the current tensor (tensors are filled in declaration order). */
  append(values: ArrayLike<number> | Float32Array | Int32Array): void {
    if (this.closed) throw new Error(`${this.file}: writer is closed`);
    let rest = values;
    while (rest.length) {
      if (this.current >= this.specs.length) throw new Error(`${this.file}: more data than the declared tensors hold`);
      const spec = this.specs[this.current];
      const elem = DTYPE_SIZES[spec.dtype];
      const room = (this.sizes[this.current] - this.writtenOfCurrent) / elem;
      const n = Math.min(room, rest.length);
      const part = (rest as Float32Array).subarray ? (rest as Float32Array).subarray(0, n) : Array.prototype.slice.call(rest, 0, n);
      this.out.append(encodeData(spec.dtype, part as ArrayLike<number>, n, `${this.file}:${spec.name}`));
      this.writtenOfCurrent += n * elem;
      rest = (rest as Float32Array).subarray ? (rest as Float32Array).subarray(n) : Array.prototype.slice.call(rest, n);
      if (this.writtenOfCurrent === this.sizes[this.current]) { this.current++; this.writtenOfCurrent = 0; }
    }
    while (this.current < this.specs.length && this.sizes[this.current] === 0) this.current++;
  }

  /** Finish: every declared byte must have been written; then fsync and rename into place. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    while (this.current < this.specs.length && this.sizes[this.current] === 0) this.current++;
    if (this.current !== this.specs.length) {
      this.out.abort();
      throw new Error(`${this.file}: closed before all data was written (tensor '${this.specs[this.current].name}' incomplete); nothing was written`);
    }
    this.out.commit();
  }

  /** Give up: remove the temporary file, leave nothing behind. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.abort();
  }
}
