/**
 * PyTorch checkpoints (torch.save's zip format) read as data, and written so torch.load opens them.
 *
 * Layout: a zip whose entries sit under one folder of any name: `<dir>/data.pkl` (a pickle whose
 * tensors refer to storages by persistent id ('storage', torch.<T>Storage, key, location, numel)),
 * `<dir>/data/<key>` (each storage's raw bytes), `<dir>/version` (or `.data/version`) and an optional
 * `<dir>/byteorder`. Tensors are rebuilt from torch._utils._rebuild_tensor_v2(storage, offset, size,
 * stride, ...) without executing anything (see lib/io/pickle.ts for the allow-list).
 */
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic';
import { DTYPE_SIZES, Dtype } from './dtypes';
import { CONFIG_GLOBALS, PickleContext, PickleError, PickleGlobal, PickleWriter, parsePickle } from './pickle';
import { RawTensor, TensorToWrite, TypedArrayLike, encodeData, rawToTensor } from './safetensors';
import { ZipReader, buildZip } from './zip';
import { SaelabError } from './errors';

export class TorchCheckpointError extends SaelabError {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TorchCheckpointError';
  }
}

/** torch storage class names and the dtype of their elements. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, Dtype>> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const STORAGE_BY_DTYPE: Record<string, string> = Object.fromEntries(Object.entries(TORCH_STORAGE_DTYPES).map(([k, v]) => [v, k]));

/** A tensor read from a torch checkpoint: dtype, shape and contiguous row-major data. */
export class TorchTensor implements RawTensor {
  constructor(readonly dtype: Dtype, readonly shape: number[], readonly data: TypedArrayLike, readonly requiresGrad = false) {}
}

/** One storage of a checkpoint (the bytes behind one or more tensors). */
export class TorchStorage {
  constructor(readonly key: string, readonly dtype: Dtype, readonly numel: number, readonly data: TypedArrayLike) {}
}

function typedView(dtype: Dtype, buf: ArrayBuffer, offset = 0, length?: number): TypedArrayLike {
  switch (dtype) {
    case 'F64': return new Float64Array(buf, offset * 8, length);
    case 'F32': return new Float32Array(buf, offset * 4, length);
    case 'F16': case 'BF16': return new Uint16Array(buf, offset * 2, length);
    case 'I64': return new BigInt64Array(buf, offset * 8, length);
    case 'I32': return new Int32Array(buf, offset * 4, length);
    case 'I16': return new Int16Array(buf, offset * 2, length);
    case 'I8': return new Int8Array(buf, offset, length);
    case 'U8': case 'BOOL': return new Uint8Array(buf, offset, length);
  }
}

const storageGlobals: PickleGlobal[] = Object.keys(TORCH_STORAGE_DTYPES).map((name) => ({ module: 'torch', name, value: `torch.${name}` }));

/** Limits shared by one checkpoint read: bytes that strided views may copy. */
interface RebuildBudget { copyBytesLeft: number }

function rebuildTensorGlobal(budget: RebuildBudget): PickleGlobal {
  return {
    module: 'torch._utils', name: '_rebuild_tensor_v2',
    call(args, ctx) {
      if (args.length < 6 || args.length > 7) ctx.fail(`torch._utils._rebuild_tensor_v2 expects 6-7 arguments, got ${args.length}`);
      const [storage, offsetArg, sizeArg, strideArg, requiresGrad] = args;
      if (!(storage instanceof TorchStorage)) return ctx.fail('torch._utils._rebuild_tensor_v2: first argument must be a storage');
      const offset = ctx.int(offsetArg, 'tensor storage offset');
      const shape = ctx.sequence(sizeArg, 'tensor size').map((d) => ctx.int(d, 'tensor size'));
      const stride = ctx.sequence(strideArg, 'tensor stride').map((d) => ctx.int(d, 'tensor stride'));
      return rebuildTensor(ctx, storage, offset, shape, stride, requiresGrad === true, budget);
    },
  };
}

const rebuildParameterGlobal: PickleGlobal = {
  module: 'torch._utils', name: '_rebuild_parameter',
  call(args, ctx) {
    if (args.length !== 3) ctx.fail(`torch._utils._rebuild_parameter expects 3 arguments, got ${args.length}`);
    if (!(args[0] instanceof TorchTensor)) ctx.fail('torch._utils._rebuild_parameter: first argument must be a tensor');
    const t = args[0] as TorchTensor;
    return new TorchTensor(t.dtype, t.shape, t.data, args[1] === true);
  },
};

/** View `shape`/`stride` at `offset` of a storage as a contiguous tensor (no copy when already contiguous). */
function rebuildTensor(ctx: PickleContext, s: TorchStorage, offset: number, shape: number[], stride: number[], requiresGrad: boolean, budget: RebuildBudget): TorchTensor {
  const where = `tensor on storage '${s.key}' (size ${JSON.stringify(shape)}, stride ${JSON.stringify(stride)}, offset ${offset})`;
  if (shape.length !== stride.length) ctx.fail(`${where}: size and stride have different lengths`);
  if (shape.some((d) => d < 0) || stride.some((d) => d < 0) || offset < 0) ctx.fail(`${where}: negative size, stride or offset`);
  let n = 1;
  for (const d of shape) n *= d;
  if (n === 0) {
    if (offset > s.numel) ctx.fail(`${where}: offset beyond the storage's ${s.numel} elements`);
    return new TorchTensor(s.dtype, shape, typedView(s.dtype, new ArrayBuffer(0)), requiresGrad);
  }
  let last = offset;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
  if (last >= s.numel) ctx.fail(`${where}: reaches element ${last} of a storage with ${s.numel} elements (corrupt checkpoint)`);
  if (n > s.numel) ctx.fail(`${where}: has ${n} elements, more than its storage's ${s.numel}; expanded (overlapping) views are not supported, save tensor.contiguous()`);
  // contiguous row-major (dims of size 1 may have any stride)?
  let contiguous = true;
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) { contiguous = false; break; }
    expect *= shape[i];
  }
  if (contiguous) {
    const src = s.data;
    return new TorchTensor(s.dtype, shape, typedView(s.dtype, src.buffer as ArrayBuffer, src.byteOffset / src.BYTES_PER_ELEMENT + offset, n), requiresGrad);
  }
  const bytes = n * DTYPE_SIZES[s.dtype];
  if (bytes > budget.copyBytesLeft) ctx.fail(`${where}: strided views would copy more bytes than the checkpoint holds`);
  budget.copyBytesLeft -= bytes;
  const out = typedView(s.dtype, new ArrayBuffer(bytes));
  const src = s.data as unknown as { [i: number]: number | bigint };
  const dst = out as unknown as { [i: number]: number | bigint };
  const idx = new Array<number>(shape.length).fill(0);
  let p = offset;
  for (let k = 0; k < n; k++) {
    dst[k] = src[p];
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      p += stride[d];
      if (idx[d] < shape[d]) break;
      p -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return new TorchTensor(s.dtype, shape, out, requiresGrad);
}

/** The globals a torch checkpoint may use: CONFIG_GLOBALS plus storages and the tensor rebuild functions. */
export function torchCheckpointGlobals(budget: RebuildBudget = { copyBytesLeft: 0 }): PickleGlobal[] {
  return [...CONFIG_GLOBALS, ...storageGlobals, rebuildTensorGlobal(budget), rebuildParameterGlobal];
}

/** A short, never-throwing rendering of a value for error messages. */
function preview(v: unknown): string {
  try {
    return String(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}` : x))).slice(0, 80);
  } catch {
    return typeof v;
  }
}

function byteSwap(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) { const t = b[a]; b[a] = b[z]; b[z] = t; }
  }
}

function decodeText(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1').trim();
}

/**
 * Read a torch checkpoint (file path or bytes) as data: the pickled object with tensors as
 * TorchTensor. Any global outside the allow-list (see torchCheckpointGlobals) is refused.
 */
export function readTorch(input: string | Uint8Array, label?: string): unknown {
  const file = label ?? (typeof input === 'string' ? input : '<bytes>');
  const zip = ZipReader.open(input, file);
  try {
    const fail = (m: string): never => { throw new TorchCheckpointError(file, m); };
    const pkls = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      fail(pkls.length ? `several data.pkl records (${pkls.join(', ')}); expected one folder` : `no <folder>/data.pkl record: this zip is not a torch checkpoint (entries: ${zip.names().slice(0, 8).join(', ')})`);
    }
    const dir = pkls[0].slice(0, -'data.pkl'.length);
    const versionName = zip.has(`${dir}version`) ? `${dir}version` : zip.has(`${dir}.data/version`) ? `${dir}.data/version` : null;
    if (!versionName) fail(`no ${dir}version record: not a torch zip checkpoint`);
    const version = decodeText(zip.read(versionName!));
    if (!/^\d+$/.test(version)) fail(`${versionName} holds ${JSON.stringify(version.slice(0, 20))}, expected an integer format version`);
    let bigEndian = false;
    if (zip.has(`${dir}byteorder`)) {
      const order = decodeText(zip.read(`${dir}byteorder`));
      if (order !== 'little' && order !== 'big') fail(`${dir}byteorder holds ${JSON.stringify(order.slice(0, 20))}, expected 'little' or 'big'`);
      bigEndian = order === 'big';
    }
    let totalStorage = 0;
    for (const e of zip.entries.values()) totalStorage += e.size;
    const budget: RebuildBudget = { copyBytesLeft: totalStorage };
    const storages = new Map<string, TorchStorage>();
    const persistentLoad = (pid: unknown, ctx: PickleContext): unknown => {
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') ctx.fail(`unsupported persistent id ${preview(pid)}; expected ('storage', type, key, location, numel)`);
      const [, typeName, key, location, numelArg] = pid as unknown[];
      const dtype = typeof typeName === 'string' && typeName.startsWith('torch.') ? TORCH_STORAGE_DTYPES[typeName.slice(6)] : undefined;
      if (!dtype || !Object.prototype.hasOwnProperty.call(TORCH_STORAGE_DTYPES, (typeName as string).slice(6))) ctx.fail(`unsupported storage type ${String(typeName)} (supported: ${Object.keys(TORCH_STORAGE_DTYPES).join(', ')})`);
      if (typeof key !== 'string' || typeof location !== 'string') ctx.fail('storage key and location must be strings');
      const numel = ctx.int(numelArg, 'storage numel');
      const k = key as string;
      const cached = storages.get(k);
      if (cached) {
        if (cached.dtype !== dtype || cached.numel !== numel) ctx.fail(`storage '${k}' is referenced with two different types or sizes`);
        return cached;
      }
      const entry = zip.entries.get(`${dir}data/${k}`);
      if (!entry) ctx.fail(`storage '${k}' has no record ${dir}data/${k}`);
      const size = DTYPE_SIZES[dtype!];
      if (numel < 0 || numel * size > entry!.size) ctx.fail(`storage '${k}' claims ${numel} ${dtype} elements (${numel * size} bytes) but its record has ${entry!.size} bytes`);
      const bytes = zip.read(entry!.name);
      if (bigEndian && size > 1) byteSwap(bytes, size);
      const s = new TorchStorage(k, dtype!, numel, typedView(dtype!, bytes.buffer as ArrayBuffer, 0, numel)); // bytes: a fresh buffer from ZipReader.read
      storages.set(k, s);
      return s;
    };
    const pkl = zip.read(pkls[0]);
    return parsePickle(pkl, { allow: torchCheckpointGlobals(budget), persistentLoad, label: `${file}:${pkls[0]}` });
  } catch (e) {
    if (e instanceof PickleError) throw new TorchCheckpointError(file, e.message.startsWith(`${file}:`) ? e.message.slice(file.length + 1).trim() : e.message);
    throw e;
  } finally {
    zip.close();
  }
}

/** Narrow a read checkpoint to a state_dict: a flat mapping name -> tensor. */
export function asStateDict(value: unknown, file: string): Record<string, TorchTensor> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Map || value instanceof TorchTensor) {
    throw new TorchCheckpointError(file, 'expected a state_dict (a dict of name -> tensor) at the top level');
  }
  const out: Record<string, TorchTensor> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(v instanceof TorchTensor)) throw new TorchCheckpointError(file, `state_dict entry '${k}' is not a tensor (${v === null ? 'None' : typeof v}); expected a flat name -> tensor mapping`);
    out[k] = v;
  }
  return out;
}

/** Load a torch.save'd state_dict (e.g. InterpBench's ll_model.pth) as name -> {dtype, shape, data}. */
export async function loadTorchCheckpoint(file: string): Promise<Record<string, TorchTensor>> {
  return asStateDict(readTorch(file), file);
}

/** Checkpoint tensors -> tfjs tensors (float dtypes -> float32, integers -> int32, bool -> bool). Caller disposes. */
export function torchCheckpointToTensors(ckpt: Record<string, RawTensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(ckpt)) out[k] = rawToTensor(t, k);
  return out;
}

export interface SaveTorchOptions {
  /** the zip's inner folder name (torch uses 'archive') */
  archiveName?: string;
  /** write zip64 records even for small files */
  forceZip64?: boolean;
}

/** Encode a state_dict in torch's zip format; returns the file's chunks. */
export function encodeTorchStateDict(tensors: Record<string, TensorToWrite>, opts: SaveTorchOptions = {}): Uint8Array[] {
  const dir = opts.archiveName ?? 'archive';
  if (!/^[^/\n]+$/.test(dir)) throw new Error(`archiveName ${JSON.stringify(dir)} must be a single folder name`);
  const w = new PickleWriter().proto(2);
  w.global('collections', 'OrderedDict').emptyTuple().reduce();
  const storages: Array<{ name: string; data: Uint8Array }> = [];
  const names = Object.keys(tensors);
  if (names.length) w.mark();
  names.forEach((name, i) => {
    const t = tensors[name];
    const dtype = t.dtype ?? (t.data instanceof Int32Array ? 'I32' : t.data instanceof BigInt64Array ? 'I64' : t.data instanceof Uint8Array ? 'U8' : 'F32');
    const storageName = STORAGE_BY_DTYPE[dtype];
    if (!storageName) throw new Error(`${name}: dtype ${dtype} has no torch storage type`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${name}: bad shape ${JSON.stringify(t.shape)}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = encodeData(dtype, t.data, n, name);
    const key = String(i);
    storages.push({ name: `${dir}/data/${key}`, data });
    const stride: number[] = [];
    let s = 1;
    for (let d = t.shape.length - 1; d >= 0; d--) { stride.unshift(s); s *= t.shape[d]; }
    w.str(name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.mark();
    w.mark().str('storage').global('torch', storageName).str(key).str('cpu').int(n).tupleFromMark().binpersid();
    w.int(0);
    w.mark(); for (const d of t.shape) w.int(d); w.tupleFromMark();
    w.mark(); for (const d of stride) w.int(d); w.tupleFromMark();
    w.bool(false);
    w.global('collections', 'OrderedDict').emptyTuple().reduce();
    w.tupleFromMark().reduce();
  });
  if (names.length) w.setitems();
  w.stop();
  return buildZip([
    { name: `${dir}/data.pkl`, data: w.toBytes() },
    { name: `${dir}/byteorder`, data: Buffer.from('little') },
    ...storages,
    { name: `${dir}/version`, data: Buffer.from('3\n') },
  ], { align: 64, forceZip64: opts.forceZip64 });
}

/**
 * Save a state_dict (name -> raw data or tfjs tensor) in torch's zip format, atomically, so that
 * `torch.load(file)` returns an OrderedDict of tensors. tfjs float32 -> torch.float32, int32 -> int32, bool -> bool.
 */
export async function saveTorchStateDict(file: string, tensors: Record<string, TensorToWrite | tf.Tensor>, opts: SaveTorchOptions = {}): Promise<void> {
  const raw: Record<string, TensorToWrite> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t instanceof tf.Tensor) {
      const data = await t.data();
      raw[name] = { dtype: t.dtype === 'int32' ? 'I32' : t.dtype === 'bool' ? 'BOOL' : 'F32', shape: t.shape.slice(), data: data as Float32Array | Int32Array | Uint8Array };
    } else {
      raw[name] = t;
    }
  }
  writeFileAtomic(file, encodeTorchStateDict(raw, opts));
}
