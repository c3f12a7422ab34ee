/**
 * Model files in a browser (loading.ts in Node reads folders and the hub cache): config.json,
 * model.safetensors (or a sharded index and its shards) and the tokenizer's JSON files, fetched
 * from the hub URL lib/hub resolves (configureHub sets the base) or from a folder URL.
 */
import * as tf from '@tensorflow/tfjs';
import type * as NodeLoading from './loading';
import { SafetensorsBuffer, SafetensorsReader, rawToTensor } from '../io/safetensorsCore';
import { assertFinite } from '../io/finite';
import { fetchBytes, fetchJson, joinUrl } from '../hub/http';
import { hubToken } from '../hub/env';
import { resolveRepo } from '../hub/resolve';
import { tokenizerFromJson } from '../tokenizers/tokenizerCore';
import { HfConfig, TensorSource } from './hf';
import { officialModelName } from './names';

export { MODEL_FILES, officialModelName } from './names';
export type { ModelSource, PretrainedFiles, ResolvedModel } from './loading';

/** The folder URL of a model: a URL as is, else a hub repo id (TransformerLens aliases mapped) at a revision. */
export const resolveModelDir: typeof NodeLoading.resolveModelDir = async (nameOrDir, revision) => {
  const r = await resolveRepo(officialModelName(nameOrDir), { revision });
  return { dir: r.dir, commit: r.commit || undefined };
};

/** Named tensors over safetensors readers, read as float32 (integer and bool tensors as stored). */
function readerSource(where: Map<string, SafetensorsReader>, location: string): TensorSource & { close(): void } {
  return {
    has: (name) => where.has(name),
    names: () => [...where.keys()],
    get: (name): tf.Tensor => {
      const f = where.get(name);
      if (!f) throw new Error(`${location}: checkpoint has no tensor '${name}' (has ${[...where.keys()].slice(0, 10).join(', ')} ...)`);
      const raw = f.readRaw(name);
      assertFinite(raw, `${f.file}:${name}`, 'the checkpoint is corrupt or was saved from a diverged run');
      const t = rawToTensor(raw, `${f.file}:${name}`);
      return t.dtype === 'float32' ? t : tf.tidy(() => { const c = tf.cast(t, 'float32'); t.dispose(); return c; });
    },
    close: () => { for (const f of new Set(where.values())) f.close(); },
  };
}

/** Fetch model.safetensors, or model.safetensors.index.json and every shard it names. */
async function fetchCheckpoint(dir: string, token: string | undefined): Promise<TensorSource & { close(): void }> {
  const where = new Map<string, SafetensorsReader>();
  const singleUrl = joinUrl(dir, 'model.safetensors');
  const single = await fetchBytes(singleUrl, { token, optional: true });
  if (single) {
    const f = SafetensorsBuffer.parse(single, singleUrl);
    for (const n of f.names()) where.set(n, f);
    return readerSource(where, dir);
  }
  const indexUrl = joinUrl(dir, 'model.safetensors.index.json');
  const index = await fetchJson(indexUrl, { token, optional: true });
  if (!index) throw new Error(`${dir}: neither model.safetensors nor model.safetensors.index.json could be fetched (HTTP 404); only safetensors checkpoints are read`);
  const map = index.weight_map as Record<string, string> | undefined;
  if (!map || typeof map !== 'object') throw new Error(`${indexUrl}: no weight_map object`);
  const shards = new Map<string, SafetensorsBuffer>();
  await Promise.all([...new Set(Object.values(map))].map(async (shard) => {
    const url = joinUrl(dir, shard);
    shards.set(shard, SafetensorsBuffer.parse(await fetchBytes(url, { token }), url));
  }));
  for (const [name, shard] of Object.entries(map)) {
    if (!shards.get(shard)!.has(name)) throw new Error(`${indexUrl}: weight_map says '${name}' is in '${shard}', but that shard has no such tensor`);
    where.set(name, shards.get(shard)!);
  }
  return readerSource(where, dir);
}

export const openPretrained: typeof NodeLoading.openPretrained = async (nameOrDir, opts = {}) => {
  const token = hubToken();
  const resolved = await resolveModelDir(nameOrDir, opts.revision);
  const dir = resolved.dir;
  const wantTokenizer = opts.tokenizer !== false;
  const [hf, src, tokenizerJson, tokenizerConfig, specialTokensMap] = await Promise.all([
    fetchJson(joinUrl(dir, 'config.json'), { token }) as Promise<HfConfig>,
    fetchCheckpoint(dir, token),
    wantTokenizer ? fetchJson(joinUrl(dir, 'tokenizer.json'), { token, optional: true }) : undefined,
    wantTokenizer ? fetchJson(joinUrl(dir, 'tokenizer_config.json'), { token, optional: true }) : undefined,
    wantTokenizer ? fetchJson(joinUrl(dir, 'special_tokens_map.json'), { token, optional: true }) : undefined,
  ]);
  const tokenizer = tokenizerJson ? tokenizerFromJson({ source: joinUrl(dir, 'tokenizer.json'), tokenizerJson, tokenizerConfig, specialTokensMap }) : undefined;
  return { kind: 'hf', hf, configFile: joinUrl(dir, 'config.json'), src, tokenizerName: officialModelName(nameOrDir), tokenizer, source: resolved };
};

export const writeHuggingFaceFolder: typeof NodeLoading.writeHuggingFaceFolder = async (dir) => {
  throw new Error(`saveHuggingFace(${dir}) writes files: not available in a browser`);
};
