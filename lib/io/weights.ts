import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomic } from './atomic';
import { Dtype, DTYPE_SIZES } from './dtypes';
import { SafetensorsFile, SafetensorsError, RawTensor, TensorToWrite, TensorInfo, rawToFloat32, rawToTensor, writeSafetensors } from './safetensors';

/** File names the Hugging Face ecosystem uses for a model's safetensors weights. */
export const SAFETENSORS_SINGLE = 'model.safetensors';
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/**
 * Named tensors read on demand from a checkpoint (one safetensors file or a sharded set).
 * `get` reads only that tensor's bytes from its file offsets.
 */
export interface WeightSource {
  /** where the weights were read from (a file or folder) */
  readonly location: string;
  /** `__metadata__` of the single file, or the index's `metadata` (stringified values) for shards */
  readonly metadata: Record<string, string>;
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  dtype(name: string): Dtype;
  /** the tensor as stored (F16/BF16 as Uint16Array bits) */
  raw(name: string): RawTensor;
  /** float values of any stored dtype, as float32 */
  getFloat32(name: string): Float32Array;
  /** a tfjs tensor: float dtypes as float32, integer dtypes as int32, BOOL as bool */
  get(name: string): tf.Tensor;
  close(): void;
}

class SingleFileWeights implements WeightSource {
  readonly metadata: Record<string, string>;
  constructor(readonly location: string, private readonly file: SafetensorsFile) {
    this.metadata = file.metadata;
  }
  names(): string[] { return this.file.names(); }
  has(name: string): boolean { return this.file.has(name); }
  shape(name: string): number[] { return this.file.info(name).shape.slice(); }
  dtype(name: string): Dtype { return this.file.info(name).dtype; }
  raw(name: string): RawTensor { return this.file.readRaw(name); }
  getFloat32(name: string): Float32Array { return rawToFloat32(this.file.readRaw(name)); }
  get(name: string): tf.Tensor { return rawToTensor(this.file.readRaw(name), `${this.location}:${name}`); }
  close(): void { this.file.close(); }
}

class ShardedWeights implements WeightSource {
  constructor(
    readonly location: string,
    readonly metadata: Record<string, string>,
    private readonly weightMap: Map<string, string>,
    private readonly shards: Map<string, SafetensorsFile>,
  ) {}
  names(): string[] { return [...this.weightMap.keys()]; }
  has(name: string): boolean { return this.weightMap.has(name); }
  private shardOf(name: string): SafetensorsFile {
    const shard = this.weightMap.get(name);
    if (shard === undefined) {
      const some = this.names().slice(0, 20).join(', ');
      throw new SafetensorsError(this.location, `no tensor '${name}' in the weight_map (found: ${some}${this.weightMap.size > 20 ? ', ...' : ''})`);
    }
    return this.shards.get(shard)!;
  }
  private info(name: string): TensorInfo { return this.shardOf(name).info(name); }
  shape(name: string): number[] { return this.info(name).shape.slice(); }
  dtype(name: string): Dtype { return this.info(name).dtype; }
  raw(name: string): RawTensor { return this.shardOf(name).readRaw(name); }
  getFloat32(name: string): Float32Array { return rawToFloat32(this.raw(name)); }
  get(name: string): tf.Tensor { return rawToTensor(this.raw(name), `${this.location}:${name}`); }
  close(): void { for (const s of this.shards.values()) s.close(); }
}

/** Parse and validate a model.safetensors.index.json: `{metadata?, weight_map: {tensor: shardFile}}`. */
export function parseShardIndex(indexFile: string, text: string): { metadata: Record<string, string>; weightMap: Map<string, string> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(indexFile, `index is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SafetensorsError(indexFile, 'index must be a JSON object with a weight_map');
  const { weight_map, metadata } = parsed as { weight_map?: unknown; metadata?: unknown };
  if (weight_map === null || typeof weight_map !== 'object' || Array.isArray(weight_map)) {
    throw new SafetensorsError(indexFile, 'index has no weight_map object ({"weight_map": {"tensor.name": "model-00001-of-00002.safetensors", ...}})');
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(weight_map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '') throw new SafetensorsError(indexFile, `weight_map['${name}'] must be a shard file name, got ${JSON.stringify(file)}`);
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
      throw new SafetensorsError(indexFile, `weight_map['${name}'] = '${file}' points outside the checkpoint folder`);
    }
    weightMap.set(name, file);
  }
  const meta: Record<string, string> = {};
  if (metadata && typeof metadata === 'object' && !Array.isArray(metadata)) {
    for (const [k, v] of Object.entries(metadata as Record<string, unknown>)) meta[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return { metadata: meta, weightMap };
}

/** Open a sharded checkpoint from its index file; every shard's header is read and checked against the weight_map. */
export function openShardedSafetensors(indexFile: string): WeightSource {
  const dir = path.dirname(indexFile);
  const { metadata, weightMap } = parseShardIndex(indexFile, fs.readFileSync(indexFile, 'utf8'));
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const shard of new Set(weightMap.values())) {
      const p = path.join(dir, shard);
      if (!fs.existsSync(p)) throw new SafetensorsError(indexFile, `shard '${shard}' listed in weight_map is missing from ${dir} (incomplete download?)`);
      shards.set(shard, SafetensorsFile.open(p));
    }
    for (const [name, shard] of weightMap) {
      if (!shards.get(shard)!.has(name)) throw new SafetensorsError(indexFile, `weight_map says '${name}' is in '${shard}', but that shard has no such tensor`);
    }
  } catch (e) {
    for (const s of shards.values()) s.close();
    throw e;
  }
  return new ShardedWeights(indexFile, metadata, weightMap, shards);
}

/**
 * Open a checkpoint for per-tensor reads: a folder holding model.safetensors.index.json (sharded) or
 * model.safetensors (or exactly one *.safetensors file), or a path to a .safetensors / index file.
 */
export function loadWeights(dirOrFile: string): WeightSource {
  if (!fs.existsSync(dirOrFile)) throw new Error(`loadWeights: '${dirOrFile}' does not exist`);
  if (fs.statSync(dirOrFile).isFile()) {
    if (dirOrFile.endsWith('.index.json')) return openShardedSafetensors(dirOrFile);
    return new SingleFileWeights(dirOrFile, SafetensorsFile.open(dirOrFile));
  }
  const index = path.join(dirOrFile, SAFETENSORS_INDEX);
  if (fs.existsSync(index)) return openShardedSafetensors(index);
  const single = path.join(dirOrFile, SAFETENSORS_SINGLE);
  if (fs.existsSync(single)) return new SingleFileWeights(single, SafetensorsFile.open(single));
  const any = fs.readdirSync(dirOrFile).filter((f) => f.endsWith('.safetensors'));
  if (any.length === 1) {
    const p = path.join(dirOrFile, any[0]);
    return new SingleFileWeights(p, SafetensorsFile.open(p));
  }
  const otherIndex = fs.readdirSync(dirOrFile).filter((f) => f.endsWith('.safetensors.index.json'));
  if (otherIndex.length === 1) return openShardedSafetensors(path.join(dirOrFile, otherIndex[0]));
  throw new Error(
    `loadWeights: ${dirOrFile} has no ${SAFETENSORS_INDEX} or ${SAFETENSORS_SINGLE}` +
    (any.length ? ` (and ${any.length} .safetensors files: ${any.slice(0, 5).join(', ')}; pass one file's path)` : '') +
    '; only safetensors checkpoints are read (convert pytorch_model.bin with safetensors\' convert script)',
  );
}

function tensorBytes(t: TensorToWrite): number {
  const dtype = t.dtype ?? (t.data instanceof Float64Array ? 'F64' : t.data instanceof Int32Array ? 'I32' : t.data instanceof BigInt64Array ? 'I64'
    : t.data instanceof Int16Array ? 'I16' : t.data instanceof Int8Array ? 'I8' : t.data instanceof Uint8Array ? 'U8' : 'F32');
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[dtype];
}

/**
 * Write tensors as a sharded checkpoint in `dir`: model-0000k-of-0000n.safetensors files of at most
 * `maxShardBytes` each (a single larger tensor gets its own shard) plus model.safetensors.index.json
 * with `metadata.total_size` and the `weight_map`, as transformers' save_pretrained does.
 */
export function writeShardedSafetensors(dir: string, tensors: Record<string, TensorToWrite>, opts: { maxShardBytes: number; metadata?: Record<string, string> }): string[] {
  const groups: Array<Record<string, TensorToWrite>> = [];
  let current: Record<string, TensorToWrite> = {};
  let size = 0;
  let total = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const b = tensorBytes(t);
    if (size > 0 && size + b > opts.maxShardBytes) {
      groups.push(current);
      current = {};
      size = 0;
    }
    current[name] = t;
    size += b;
    total += b;
  }
  if (Object.keys(current).length) groups.push(current);
  const n = groups.length;
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  groups.forEach((g, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(path.join(dir, file), g, { format: 'pt', ...(opts.metadata ?? {}) });
    for (const name of Object.keys(g)) weightMap[name] = file;
    files.push(file);
  });
  writeJsonAtomic(path.join(dir, SAFETENSORS_INDEX), { metadata: { total_size: total }, weight_map: weightMap });
  return files;
}
