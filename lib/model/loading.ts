import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile, rawToTensor } from '../io/safetensors';
import { assertFinite } from '../io/finite';
import { TensorSource } from './hf';
import { resolveRepo } from '../hub/resolve';

/** A model folder on disk and, when it came from the hub, the commit it holds. */
export interface ResolvedModel {
  dir: string;
  commit?: string;
}

/** Files a model folder needs from the hub (weights, config, tokenizer). */
export const MODEL_FILES = ['config.json', '*.json', '*.safetensors'];

/**
 * TransformerLens model aliases -> Hugging Face repo ids (the names SAELens metadata uses, e.g.
 * gpt2-small, pythia-70m-deduped, gemma-2b, mistral-7b). Repo ids (owner/name) pass unchanged.
 */
export function officialModelName(name: string): string {
  if (name.includes('/')) return name;
  const n = name.toLowerCase();
  const gpt2: Record<string, string> = { gpt2: 'gpt2', 'gpt2-small': 'gpt2', 'gpt2-medium': 'gpt2-medium', 'gpt2-large': 'gpt2-large', 'gpt2-xl': 'gpt2-xl' };
  if (gpt2[n]) return `openai-community/${gpt2[n]}`;
  if (n.startsWith('pythia-')) return `EleutherAI/${n}`;
  if (/^gemma-(2b|7b)(-it)?$/.test(n)) return `google/${n}`;
  const mistral: Record<string, string> = { 'mistral-7b': 'mistralai/Mistral-7B-v0.1', 'mistral-7b-instruct': 'mistralai/Mistral-7B-Instruct-v0.1' };
  if (mistral[n]) return mistral[n];
  return name;
}

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
    const f = SafetensorsFile.open(single);
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
        f = SafetensorsFile.open(file);
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
