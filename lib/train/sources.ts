import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile, TensorInfo } from '../io/safetensors';
import { bf16ToF32, f16ToF32 } from '../io/dtypes';
import { assertFinite } from '../io/finite';

/**
 * Where the activation store gets activations from. A source hands out chunks of rows [n, d_in] in a
 * fixed order and can report / restore its position, so a resumed run reads the same data.
 */
export interface ActivationSource {
  readonly dIn: number;
  /**
   * Paired sources (transcoder training): rows are [input | output], d_in + d_out wide, the output being
   * the activation to predict. Absent for plain activations.
   */
  readonly dOut?: number;
  /** The next chunk [n, d_in] (paired: [n, d_in + d_out]; n >= 1; the caller disposes it), or null when the source is exhausted. */
  next(): Promise<tf.Tensor2D | null>;
  /** JSON-serialisable position */
  getState(): Record<string, unknown>;
  /** continue from a position returned by getState */
  restore(state: Record<string, unknown>): Promise<void>;
  /** one line for logs and errors */
  describe(): string;
}

/**
 * Rows held in memory (a Float32Array [n * d_in] or a tensor [n, d_in]), served in order in chunks of
 * `chunkTokens`, starting over when `loop` (default true).
 */
export class InMemorySource implements ActivationSource {
  readonly dIn: number;
  private readonly rows: number;
  private readonly data: Float32Array;
  private row = 0;
  private epoch = 0;

  constructor(data: Float32Array | tf.Tensor2D, dIn?: number, private readonly opts: { chunkTokens?: number; loop?: boolean } = {}) {
    if (data instanceof tf.Tensor) {
      this.dIn = data.shape[1];
      this.data = data.dataSync() as Float32Array;
    } else {
      if (!dIn) throw new Error('InMemorySource: dIn is required with a Float32Array');
      this.dIn = dIn;
      this.data = data;
    }
    if (this.data.length % this.dIn !== 0) throw new Error(`InMemorySource: ${this.data.length} values is not a multiple of d_in ${this.dIn}`);
    this.rows = this.data.length / this.dIn;
    if (this.rows === 0) throw new Error('InMemorySource: no rows');
  }

  async next(): Promise<tf.Tensor2D | null> {
    if (this.row >= this.rows) {
      if (this.opts.loop === false) return null;
      this.row = 0;
      this.epoch += 1;
    }
    const n = Math.min(this.opts.chunkTokens ?? 8192, this.rows - this.row);
    const out = tf.tensor2d(this.data.subarray(this.row * this.dIn, (this.row + n) * this.dIn), [n, this.dIn]);
    this.row += n;
    return out;
  }

  getState(): Record<string, unknown> {
    return { kind: 'memory', row: this.row, epoch: this.epoch };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    this.row = Number(state.row);
    this.epoch = Number(state.epoch);
  }

  describe(): string {
    return `in-memory activations (${this.rows} x ${this.dIn})`;
  }
}

/**
 * Chunks made by a deterministic function of the chunk index (e.g. synthetic data seeded by index);
 * the position is just the next index. `make` returns [n, d_in] or null at the end.
 */
export class GeneratorSource implements ActivationSource {
  private index = 0;

  constructor(readonly dIn: number, private readonly make: (chunkIndex: number) => tf.Tensor2D | null, private readonly name = 'generator') {}

  async next(): Promise<tf.Tensor2D | null> {
    const t = this.make(this.index);
    if (t === null) return null;
    if (t.rank !== 2 || t.shape[1] !== this.dIn) throw new Error(`${this.name}: chunk ${this.index} has shape [${t.shape}], expected [n, ${this.dIn}]`);
    this.index += 1;
    return t;
  }

  getState(): Record<string, unknown> {
    return { kind: 'generator', index: this.index };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    this.index = Number(state.index);
  }

  describe(): string {
    return this.name;
  }
}

/**
 * Activations cached in safetensors files: tensor `tensorName` of shape [n, d_in] or [batch, pos, d_in]
 * (F32, F16 or BF16) in each file, read `chunkTokens` rows at a time (never the whole tensor), files in
 * order, starting over when `loop` (default true).
 */
export class SafetensorsActivationSource implements ActivationSource {
  readonly dIn: number;
  private readonly infos: Array<{ file: string; info: TensorInfo; rows: number }> = [];
  private fileIndex = 0;
  private row = 0;
  private epoch = 0;

  constructor(files: string[], readonly tensorName: string, private readonly opts: { chunkTokens?: number; loop?: boolean } = {}) {
    if (files.length === 0) throw new Error('SafetensorsActivationSource: no files given');
    let dIn = -1;
    for (const file of files) {
      const f = SafetensorsFile.open(file);
      try {
        if (!f.has(tensorName)) throw new Error(`${file}: no tensor '${tensorName}' (found: ${f.names().slice(0, 20).join(', ')}); pass the activations' name with --tensor`);
        const info = f.info(tensorName);
        if (!['F32', 'F16', 'BF16'].includes(info.dtype)) throw new Error(`${file}:${tensorName}: dtype ${info.dtype} is not a float type (F32, F16, BF16)`);
        if (info.shape.length < 2) throw new Error(`${file}:${tensorName}: shape [${info.shape}] needs at least 2 dims ([n, d_in] or [batch, pos, d_in])`);
        const d = info.shape[info.shape.length - 1];
        if (dIn >= 0 && d !== dIn) throw new Error(`${file}:${tensorName}: d_in ${d} differs from ${dIn} in ${files[0]}`);
        dIn = d;
        const rows = info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        if (rows > 0) this.infos.push({ file, info, rows });
      } finally {
        f.close();
      }
    }
    if (this.infos.length === 0) throw new Error(`SafetensorsActivationSource: '${tensorName}' has no rows in ${files.join(', ')}`);
    this.dIn = dIn;
  }

  /** total rows over all files */
  get totalRows(): number {
    return this.infos.reduce((a, b) => a + b.rows, 0);
  }

  async next(): Promise<tf.Tensor2D | null> {
    if (this.fileIndex >= this.infos.length) {
      if (this.opts.loop === false) return null;
      this.fileIndex = 0;
      this.row = 0;
      this.epoch += 1;
    }
    const { file, info, rows } = this.infos[this.fileIndex];
    const n = Math.min(this.opts.chunkTokens ?? 8192, rows - this.row);
    const elemBytes = info.dtype === 'F32' ? 4 : 2;
    const rowBytes = this.dIn * elemBytes;
    const buf = Buffer.alloc(n * rowBytes);
    const fd = fs.openSync(file, 'r');
    try {
      let off = 0;
      while (off < buf.length) {
        const got = fs.readSync(fd, buf, off, buf.length - off, info.start + this.row * rowBytes + off);
        if (got === 0) throw new Error(`${file}: unexpected end of file reading '${this.tensorName}' rows ${this.row}..${this.row + n}`);
        off += got;
      }
    } finally {
      fs.closeSync(fd);
    }
    let values: Float32Array;
    if (info.dtype === 'F32') {
      values = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    } else {
      const bits = new Uint16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
      values = new Float32Array(bits.length);
      const conv = info.dtype === 'F16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < bits.length; i++) values[i] = conv(bits[i]);
    }
    assertFinite({ dtype: 'F32', data: values }, `${file}:${this.tensorName} (rows ${this.row}..${this.row + n})`, 'training activations must be finite');
    this.row += n;
    if (this.row >= rows) {
      this.fileIndex += 1;
      this.row = 0;
    }
    return tf.tensor2d(values, [n, this.dIn]);
  }

  getState(): Record<string, unknown> {
    return { kind: 'safetensors', fileIndex: this.fileIndex, row: this.row, epoch: this.epoch };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    this.fileIndex = Number(state.fileIndex);
    this.row = Number(state.row);
    this.epoch = Number(state.epoch);
  }

  describe(): string {
    return `safetensors activations '${this.tensorName}' in ${this.infos.map((x) => x.file).join(', ')}`;
  }
}

/**
 * Pairs two sources row by row for transcoder training: rows [input | output] of width d_in + d_out from
 * an input source (the hook the transcoder reads) and an output source (the hook it predicts), which must
 * serve the same tokens in the same order (e.g. two tensors of the same cache files).
 */
export class PairedActivationSource implements ActivationSource {
  readonly dIn: number;
  readonly dOut: number;
  private inPending: tf.Tensor2D | null = null;
  private outPending: tf.Tensor2D | null = null;

  constructor(readonly input: ActivationSource, readonly output: ActivationSource) {
    if (input.dOut !== undefined || output.dOut !== undefined) throw new Error('PairedActivationSource: pair two plain sources');
    this.dIn = input.dIn;
    this.dOut = output.dIn;
  }

  /** The next rows of one side, at most n, keeping the rest for later. */
  private static take(pending: tf.Tensor2D, n: number): [tf.Tensor2D, tf.Tensor2D | null] {
    if (pending.shape[0] <= n) return [pending, null];
    const [head, tail] = tf.split(pending, [n, pending.shape[0] - n], 0) as tf.Tensor2D[];
    pending.dispose();
    return [head, tail];
  }

  async next(): Promise<tf.Tensor2D | null> {
    this.inPending = this.inPending ?? await this.input.next();
    this.outPending = this.outPending ?? await this.output.next();
    if (!this.inPending || !this.outPending) {
      if (this.inPending || this.outPending) throw new Error(`PairedActivationSource: ${this.inPending ? this.output.describe() : this.input.describe()} ended before ${this.inPending ? this.input.describe() : this.output.describe()}; the two must hold the same tokens`);
      return null;
    }
    const n = Math.min(this.inPending.shape[0], this.outPending.shape[0]);
    const [a, restIn] = PairedActivationSource.take(this.inPending, n);
    const [b, restOut] = PairedActivationSource.take(this.outPending, n);
    this.inPending = restIn;
    this.outPending = restOut;
    const out = tf.concat([a, b], 1) as tf.Tensor2D;
    a.dispose();
    b.dispose();
    return out;
  }

  getState(): Record<string, unknown> {
    if (this.inPending || this.outPending) throw new Error('PairedActivationSource: its two sources serve chunks of different sizes; a checkpoint needs them aligned (use the same chunk size for both)');
    return { kind: 'paired', input: this.input.getState(), output: this.output.getState() };
  }

  async restore(state: Record<string, unknown>): Promise<void> {
    this.inPending?.dispose();
    this.outPending?.dispose();
    this.inPending = this.outPending = null;
    await this.input.restore(state.input as Record<string, unknown>);
    await this.output.restore(state.output as Record<string, unknown>);
  }

  describe(): string {
    return `pairs of ${this.input.describe()} -> ${this.output.describe()}`;
  }
}
