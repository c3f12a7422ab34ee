/**
 * Model files in Node: folders and the hub cache (read with fs), the one place model names become
 * folders. A browser build uses loading.browser.ts instead (same exports, over fetch).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic';
import { SafetensorsFile, rawToTensor, writeTensorsSafetensors } from '../io/safetensors';
import { assertFinite } from '../io/finite';
import { HfConfig, TensorSource } from './hf';
import { HookedTransformerConfig } from './config';
import { StateDict } from './params';
import { isTransformerLensTorchDir, readTransformerLensTorchDir } from './interpbench';
import { resolveRepo } from '../hub/resolve';
import { MODEL_FILES, officialModelName } from './names';
import { Tokenizer, loadTokenizerFromDir } from '../tokenizers/tokenizer';

/** A model folder on disk and, when it came from the hub, the commit it holds. */
export interface ResolvedModel {
  dir: string;
  commit?: string;
}

export { MODEL_FILES, officialModelName } from './names';

/**
 * The one place model names become folders: a local folder as is, else a hub repo id (or a
 * shipped demo name such as saelab/demo-base) resolved through lib/hub at a revision.
 */
export async function resolveModelDir(nameOrDir: string, revision?: string): Promise<ResolvedModel> {
  const dir = path.resolve(nameOrDir);
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) return { dir };
  const r = await resolveRepo(officialModelName(nameOrDir), { revision, files: MODEL_FILES });
  return { dir: r.dir, commit: r.commit || undefined };
}

/** Open a checkpoint folder's weights: model.safetensors or a sharded model.safetensors.index.json. */
export function openCheckpoint(dir: string): TensorSource & { close(): void; dtypes(): Set<string> } {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  const files = new Map<string, SafetensorsFile>();
  const where = new Map<string, SafetensorsFile>();
  if (fs.existsSync(single)) {
    const f = SafetensorsFile.open(single, { mapped: true });
    files.set(single, f);
    for (const n of f.names()) where.set(n, f);
  } else if (fs.existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(fs.readFileSync(index, 'utf8')).weight_map;
    } catch (e) {
      throw new Error(`${index}: not valid JSON with a weight_map (${(e as Error).message})`);
    }
    if (!map || typeof map !== 'object') throw new Error(`${index}: no weight_map object`);
    for (const [name, shard] of Object.entries(map)) {
      const file = path.join(dir, shard);
      let f = files.get(file);
      if (!f) {
        if (!fs.existsSync(file)) throw new Error(`${index}: shard ${shard} (for '${name}') is missing from ${dir}`);
        f = SafetensorsFile.open(file, { mapped: true });
        files.set(file, f);
      }
      where.set(name, f);
    }
  } else {
    const present = fs.readdirSync(dir).join(', ');
    throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json (found: ${present}); only safetensors checkpoints are read here`);
  }
  return {
    has: (name) => where.has(name),
    names: () => [...where.keys()],
    get: (name): tf.Tensor => {
      const f = where.get(name);
      if (!f) throw new Error(`${dir}: checkpoint has no tensor '${name}' (has ${[...where.keys()].slice(0, 10).join(', ')} ...)`);
      const raw = f.readRaw(name);
      assertFinite(raw, `${f.file}:${name}`, 'the checkpoint is corrupt or was saved from a diverged run');
      const t = rawToTensor(raw, `${f.file}:${name}`);
      return t.dtype === 'float32' ? t : tf.tidy(() => { const c = tf.cast(t, 'float32'); t.dispose(); return c; });
    },
    dtypes: () => new Set([...where.entries()].map(([n, f]) => f.info(n).dtype)),
    close: () => { for (const f of files.values()) f.close(); },
  };
}

/** Read and parse <dir>/config.json. */
export function readHfConfig(dir: string): Record<string, any> {
  const file = path.join(dir, 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the model config (${(e as Error).message})`);
  }
}

/** Where a pretrained model's files were found: a folder (or, in a browser, a URL) and the hub commit. */
export interface ModelSource {
  dir: string;
  commit?: string;
}

/** A pretrained model's files, opened: a Hugging Face checkpoint, or a TransformerLens state dict saved from Python. */
export type PretrainedFiles =
  | {
    kind: 'hf';
    /** config.json, parsed */
    hf: HfConfig;
    /** where config.json is (for messages) */
    configFile: string;
    /** the weights, read tensor by tensor, and their stored dtypes (F32, BF16, ...) where known; the caller closes it */
    src: TensorSource & { close(): void; dtypes?(): Set<string> };
    /** TransformerLens's tokenizer_name: the folder or the official repo id */
    tokenizerName: string;
    /** the folder's tokenizer, when it has tokenizer.json and one was asked for */
    tokenizer?: Tokenizer;
    source: ModelSource;
  }
  | { kind: 'transformerlens'; cfg: HookedTransformerConfig; sd: StateDict; source: ModelSource };

/**
 * Open a model by folder or hub name (HookedTransformer.fromPretrained's file access): an InterpBench /
 * TransformerLens folder (ll_model.pth + ll_model_cfg.pkl), else a Hugging Face checkpoint folder or
 * repo resolved through lib/hub at `revision`, with its tokenizer unless `tokenizer` is false.
 */
export async function openPretrained(nameOrDir: string, opts: { revision?: string; tokenizer?: boolean } = {}): Promise<PretrainedFiles> {
  if (isTransformerLensTorchDir(nameOrDir)) {
    const { cfg, sd } = readTransformerLensTorchDir(nameOrDir);
    return { kind: 'transformerlens', cfg, sd, source: { dir: path.resolve(nameOrDir) } };
  }
  const resolved = await resolveModelDir(nameOrDir, opts.revision);
  const hf = readHfConfig(resolved.dir);
  const tokenizer = opts.tokenizer !== false && fs.existsSync(path.join(resolved.dir, 'tokenizer.json')) ? loadTokenizerFromDir(resolved.dir) : undefined;
  return {
    kind: 'hf', hf, configFile: path.join(resolved.dir, 'config.json'), src: openCheckpoint(resolved.dir),
    tokenizerName: fs.existsSync(nameOrDir) ? nameOrDir : officialModelName(nameOrDir), tokenizer, source: resolved,
  };
}

/** Write config.json + model.safetensors into `dir` atomically (the folder appears complete or not at all). */
export async function writeHuggingFaceFolder(dir: string, config: HfConfig, tensors: Record<string, tf.Tensor>): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    writeJsonAtomic(path.join(tmp, 'config.json'), config);
    await writeTensorsSafetensors(path.join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
  });
  if (!fs.existsSync(path.join(dir, 'model.safetensors'))) throw new Error(`saveHuggingFace: ${dir}/model.safetensors was not written`);
}
