import * as fs from 'fs';
import * as path from 'path';
import { loadWeights, parseShardIndex, SAFETENSORS_INDEX, SAFETENSORS_SINGLE, WeightSource } from '../io/weights';
import { resolveRepo, ResolveOptions, ResolvedRepo } from './resolve';

/**
 * Resolve a model's safetensors checkpoint (local folder or hub id + revision) and open it for
 * per-tensor reads. Fetches the repo's small *.json files first (config.json, the shard index,
 * tokenizer files), then exactly the shards the index lists, or model.safetensors, never other
 * weight files (e.g. a duplicate consolidated.safetensors).
 */
export async function resolveCheckpoint(repoId: string, opts: Omit<ResolveOptions, 'files' | 'optionalFiles' | 'repoType'> = {}): Promise<ResolvedRepo & { weights: WeightSource }> {
  const meta = await resolveRepo(repoId, { ...opts, files: ['config.json'], optionalFiles: ['*.json'] });
  if (meta.source === 'local') return { ...meta, weights: loadWeights(meta.dir) };
  const index = path.join(meta.dir, SAFETENSORS_INDEX);
  let files: string[];
  if (fs.existsSync(index)) {
    const { weightMap } = parseShardIndex(index, fs.readFileSync(index, 'utf8'));
    files = [...new Set(weightMap.values())].sort();
  } else {
    files = [SAFETENSORS_SINGLE];
  }
  // pin the commit the metadata came from, so shards and index always match
  const r = await resolveRepo(repoId, { ...opts, revision: meta.commit, files });
  return { ...r, revision: meta.revision, weights: loadWeights(r.dir) };
}
