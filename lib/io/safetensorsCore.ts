/**
 * safetensors without the file system: header parsing, a reader over bytes in memory (an
 * ArrayBuffer from fetch or a file), dtype conversions and serialisation to bytes. Pure: runs in
 * Node and in a browser. File-backed reading and atomic writes are in ./safetensors.
 */
import * as tf from '@tensorflow/tfjs';
import { DTYPE_SIZES, Dtype, isDtype, f16ToF32, f32ToBf16, f32ToF16 } from './dtypes';
import { SaelabError } from './errors';

/** Where one tensor lives inside a safetensors file. Offsets are absolute file positions. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** absolute byte offset of the first byte in the file */
  start: number;
  /** byte length */
  byteLength: number;
}

export type TypedArrayLike = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array | Uint16Array;

/** A tensor as stored: dtype, shape and the raw typed data (F16/BF16 as Uint16Array bits, BOOL as Uint8Array). */
export interface RawTensor {
  dtype: Dtype;
  shape: number[];
  data: TypedArrayLike;
}

/** Tensor data to write; `dtype` defaults from the array type (Float32Array -> F32, Int32Array -> I32, ...). */
export interface TensorToWrite {
  dtype?: Dtype;
  shape: number[];
  data: ArrayLike<number> | BigInt64Array | TypedArrayLike;
}

/** The reference reader's limit (huggingface/safetensors MAX_HEADER_SIZE). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends SaelabError {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function product(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The numbers of a header must be plain non-negative integers (the reference reader deserialises shapes
 * and offsets as usize and metadata values are strings): find the first number token outside strings
 * that is not, e.g. `2.0`, `8e0` or `-1`.
 */
function firstNonIntegerNumber(json: string): string | null {
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i;
      while (j < json.length && /[-+0-9.eE]/.test(json[j])) j++;
      const token = json.slice(i, j);
      if (!/^\d+$/.test(token)) return token;
      i = j - 1;
    }
  }
  return null;
}

/**
 * Parse and validate a safetensors header from its JSON text, as strictly as the reference reader
 * (huggingface/safetensors `read_metadata` + `Metadata::validate`): an object of tensor entries
 * {dtype, shape, data_offsets} and an optional `__metadata__` of strings; integers only; the tensors'
 * byte ranges, sorted, must tile the data section exactly from 0 to its end (no gap, no overlap, no
 * trailing bytes); each range's size equals shape x dtype size. `dataBytes` is the size of the data section.
 */
export function parseHeaderJson(file: string, json: string, dataStart: number, dataBytes: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SafetensorsError(file, 'header JSON must be an object of tensor entries');
  }
  const odd = firstNonIntegerNumber(json);
  if (odd !== null) throw new SafetensorsError(file, `header has the number ${odd.slice(0, 40)}; shapes and data_offsets must be non-negative integers`);
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null) continue;
      if (typeof entry !== 'object' || Array.isArray(entry)) throw new SafetensorsError(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__.${k} must be a string, got ${typeof v}`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new SafetensorsError(file, `tensor '${name}': entry must be an object with dtype, shape, data_offsets`);
    const { dtype, shape, data_offsets } = entry as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (!isDtype(dtype)) throw new SafetensorsError(file, `tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_SIZES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(file, `tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(file, `tensor '${name}': data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(data_offsets)}`);
    }
    const [begin, end] = data_offsets as [number, number];
    if (end < begin) throw new SafetensorsError(file, `tensor '${name}': data_offsets end ${end} < begin ${begin}`);
    if (end > dataBytes) throw new SafetensorsError(file, `tensor '${name}': data_offsets [${begin}, ${end}] out of range: the data section has ${dataBytes} bytes (file truncated?)`);
    const expected = product(shape as number[]) * DTYPE_SIZES[dtype];
    if (end - begin !== expected) throw new SafetensorsError(file, `tensor '${name}': byte size ${end - begin} does not match shape ${JSON.stringify(shape)} x ${dtype} (${expected} bytes)`);
    tensors.set(name, { name, dtype, shape: (shape as number[]).slice(), start: dataStart + begin, byteLength: end - begin });
    spans.push([begin, end, name]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  let prev = '';
  for (const [begin, end, name] of spans) {
    if (begin < at) throw new SafetensorsError(file, `tensors '${prev}' and '${name}' have overlapping data_offsets ('${name}' starts at ${begin}, '${prev}' ends at ${at})`);
    if (begin > at) throw new SafetensorsError(file, `tensor '${name}': data_offsets [${begin}, ${end}] leave a gap of ${begin - at} bytes after offset ${at}; tensors must be stored back to back from offset 0`);
    at = end;
    prev = name;
  }
  if (at !== dataBytes) throw new SafetensorsError(file, `${dataBytes - at} trailing bytes after the last tensor (the data section has ${dataBytes} bytes, the tensors cover ${at}); the file is corrupt or was appended to`);
  return { tensors, metadata };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The header's bytes as text; not valid UTF-8 is an error naming the file. */
export function decodeHeader(file: string, bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8; the file is corrupt or not a safetensors file');
  }
}

/** Reads the 8-byte little-endian header length and checks it against the byte count. */
export function headerLength(file: string, first8: Uint8Array, size: number): number {
  if (size < 8 || first8.byteLength < 8) throw new SafetensorsError(file, `file has ${size} bytes, too short for the 8-byte header length`);
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(size - 8)) throw new SafetensorsError(file, `header length ${headerLen} is beyond the file's ${size} bytes (truncated or not a safetensors file)`);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  return Number(headerLen);
}

/**
 * Per-tensor reads of a safetensors file, wherever its bytes are: subclasses supply `readBytes`
 * (a file descriptor in Node, an ArrayBuffer in memory).
 */
export abstract class SafetensorsReader {
  protected constructor(readonly file: string, readonly tensors: Map<string, TensorInfo>, readonly metadata: Record<string, string>) {}

  /** Copy `byteLength` bytes starting at absolute offset `start` into a fresh ArrayBuffer. */
  protected abstract readBytes(start: number, byteLength: number): ArrayBuffer;

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.file, `no tensor '${name}' (found: ${this.names().slice(0, 20).join(', ')}${this.tensors.size > 20 ? ', ...' : ''})`);
    return t;
  }

  /** Read one tensor's bytes as stored (a fresh copy the caller owns). */
  readRaw(name: string): RawTensor {
    const info = this.info(name);
    return { dtype: info.dtype, shape: info.shape.slice(), data: viewAs(info.dtype, this.readBytes(info.start, info.byteLength)) };
  }

  /**
   * Read rows [start, start + count) of a tensor along its first dimension (row-major), as stored.
   * Lets stages stream activations [N, ctx, d] far larger than memory.
   */
  readRows(name: string, start: number, count: number): RawTensor {
    const info = this.info(name);
    const rows = info.shape[0] ?? 1;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new SafetensorsError(this.file, `tensor '${name}': rows [${start}, ${start + count}) out of range for ${rows} rows`);
    }
    const rowBytes = rows === 0 ? 0 : info.byteLength / rows;
    return { dtype: info.dtype, shape: [count, ...info.shape.slice(1)], data: viewAs(info.dtype, this.readBytes(info.start + rowBytes * start, rowBytes * count)) };
  }

  /** Read a floating or integer tensor converted to float32 values. */
  readFloat32(name: string): Float32Array {
    return rawToFloat32(this.readRaw(name));
  }

  /** Read one tensor as a tfjs tensor: float dtypes as float32, integer dtypes as int32, BOOL as bool. */
  tensor(name: string): tf.Tensor {
    return rawToTensor(this.readRaw(name), `${this.file}:${name}`);
  }

  abstract close(): void;
}

/** A safetensors file held in memory (bytes from fetch, a File, or a buffer). */
export class SafetensorsBuffer extends SafetensorsReader {
  private bytes: Uint8Array | null;

  private constructor(file: string, bytes: Uint8Array, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    super(file, tensors, metadata);
    this.bytes = bytes;
  }

  /** Parse and validate the header of `bytes`; `file` names the source in errors (a path or URL). */
  static parse(bytes: ArrayBuffer | Uint8Array, file = 'safetensors bytes'): SafetensorsBuffer {
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const n = headerLength(file, u8.subarray(0, 8), u8.byteLength);
    const { tensors, metadata } = parseHeaderJson(file, decodeHeader(file, u8.subarray(8, 8 + n)), 8 + n, u8.byteLength - 8 - n);
    return new SafetensorsBuffer(file, u8, tensors, metadata);
  }

  protected readBytes(start: number, byteLength: number): ArrayBuffer {
    if (this.bytes === null) throw new SafetensorsError(this.file, 'reader is closed');
    const out = new Uint8Array(byteLength);
    out.set(this.bytes.subarray(start, start + byteLength));
    return out.buffer;
  }

  /** Drop the reference to the bytes. */
  close(): void {
    this.bytes = null;
  }
}

/** A typed-array view of a dtype over a whole buffer (F16/BF16 as Uint16Array bits, BOOL as Uint8Array). */
export function viewAs(dtype: Dtype, ab: ArrayBuffer): TypedArrayLike {
  switch (dtype) {
    case 'F64': return new Float64Array(ab);
    case 'F32': return new Float32Array(ab);
    case 'F16': case 'BF16': return new Uint16Array(ab);
    case 'I64': return new BigInt64Array(ab);
    case 'I32': return new Int32Array(ab);
    case 'I16': return new Int16Array(ab);
    case 'I8': return new Int8Array(ab);
    case 'U8': case 'BOOL': return new Uint8Array(ab);
  }
}

/** Convert any stored tensor to float32 values (F16/BF16 decoded exactly, I64 via Number). */
export function rawToFloat32(t: RawTensor): Float32Array {
  const { dtype, data } = t;
  if (dtype === 'F32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === 'F16') { const d = data as Uint16Array; for (let i = 0; i < d.length; i++) out[i] = f16ToF32(d[i]); }
  else if (dtype === 'BF16') bf16BitsToF32Into(data as Uint16Array, out);
  else if (dtype === 'I64') { const d = data as BigInt64Array; for (let i = 0; i < d.length; i++) out[i] = Number(d[i]); }
  else { const d = data as ArrayLike<number>; for (let i = 0; i < d.length; i++) out[i] = d[i]; }
  return out;
}

/**
 * BF16 bits -> float32 values, written into `out` (same length). Reads two bf16 values per 32-bit
 * load (little-endian: the low half is the first); int32 stores keep the loop on V8's fast path.
 */
export function bf16BitsToF32Into(d: Uint16Array, out: Float32Array): void {
  const o = new Int32Array(out.buffer, out.byteOffset, out.length);
  const n = d.length;
  let i = 0;
  if (d.byteOffset % 4 === 0) {
    const w = new Int32Array(d.buffer, d.byteOffset, n >> 1);
    for (let k = 0; k < w.length; k++, i += 2) {
      const x = w[k];
      o[i] = x << 16;
      o[i + 1] = x & -65536;
    }
  }
  for (; i < n; i++) o[i] = d[i] << 16;
}

/** Convert an integer tensor to Int32Array; throws when an I64 value does not fit. */
export function rawToInt32(t: RawTensor, label = 'tensor'): Int32Array {
  if (t.dtype === 'I32') return t.data as Int32Array;
  const out = new Int32Array(t.data.length);
  if (t.dtype === 'I64') {
    const d = t.data as BigInt64Array;
    for (let i = 0; i < d.length; i++) {
      if (d[i] > 2147483647n || d[i] < -2147483648n) throw new Error(`${label}: I64 value ${d[i]} at index ${i} does not fit in int32`);
      out[i] = Number(d[i]);
    }
  } else if (t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'F16' || t.dtype === 'BF16') {
    throw new Error(`${label}: expected an integer tensor, got ${t.dtype}`);
  } else {
    const d = t.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) out[i] = d[i];
  }
  return out;
}

/** Stored tensor -> tfjs tensor (float32 / int32 / bool). */
export function rawToTensor(t: RawTensor, label = 'tensor'): tf.Tensor {
  if (t.dtype === 'BOOL') return tf.tensor(t.data as Uint8Array, t.shape, 'bool');
  if (t.dtype === 'F32' || t.dtype === 'F64' || t.dtype === 'F16' || t.dtype === 'BF16') return tf.tensor(rawToFloat32(t), t.shape, 'float32');
  return tf.tensor(rawToInt32(t, label), t.shape, 'int32');
}

function inferDtype(data: TensorToWrite['data']): Dtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  return 'F32';
}

/** Encode values into the bytes of a dtype (F16/BF16 from floats, or pass Uint16Array bits for those dtypes). */
export function encodeData(dtype: Dtype, data: TensorToWrite['data'], n: number, label: string): Uint8Array {
  if (data.length !== n) throw new Error(`${label}: data has ${data.length} values, shape needs ${n}`);
  const size = DTYPE_SIZES[dtype];
  const ab = new ArrayBuffer(n * size);
  const src = data as ArrayLike<number>;
  switch (dtype) {
    case 'F32': new Float32Array(ab).set(src); break;
    case 'F64': new Float64Array(ab).set(src); break;
    case 'I32': new Int32Array(ab).set(src); break;
    case 'I16': new Int16Array(ab).set(src); break;
    case 'I8': new Int8Array(ab).set(src); break;
    case 'U8': case 'BOOL': new Uint8Array(ab).set(src); break;
    case 'I64': {
      const o = new BigInt64Array(ab);
      if (data instanceof BigInt64Array) o.set(data);
      else for (let i = 0; i < n; i++) o[i] = BigInt(Math.trunc(src[i]));
      break;
    }
    case 'F16': case 'BF16': {
      const o = new Uint16Array(ab);
      if (data instanceof Uint16Array) o.set(data);
      else { const f = dtype === 'F16' ? f32ToF16 : f32ToBf16; for (let i = 0; i < n; i++) o[i] = f(src[i]); }
      break;
    }
  }
  return new Uint8Array(ab);
}


/**
 * The bytes of a safetensors file (8-byte header length, JSON header padded to 8 bytes, data), as
 * chunks to write or concatenate. `file` names the destination in errors.
 */
export function serializeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype ?? inferDtype(t.data);
    const bytes = encodeData(dtype, t.data, product(t.shape), `${file}:${name}`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const enc = new TextEncoder();
  let json = JSON.stringify(header);
  const pad = (8 - ((enc.encode(json).byteLength + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const hbytes = enc.encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(hbytes.byteLength), true);
  return [len, hbytes, ...chunks];
}
