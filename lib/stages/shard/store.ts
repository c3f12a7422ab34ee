import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic';
import { configHash } from '../../config/hash';
import { ArtifactRecord, artifactsIntact, recordArtifacts } from '../../notebook/stage';
import { SAELAB_VERSION } from '../../version';
import { BatchRange, ShardSpec, formatShard } from './spec';

/** shard.json: written last into a shard's folder; its presence marks the shard complete. */
export interface ShardRecord {
  stage: string;
  index: number;
  count: number;
  /** hash of the stage's config inputs (model revisions, dataset, sample sizes, ...) */
  inputsHash: string;
  /** the shard's batches of the stage's token sample */
  range: BatchRange;
  /** batches in the whole stage (the token range layout every shard must share) */
  totalBatches: number;
  batchSize: number;
  /** provenance that must agree across shards: model commits, hook, ... */
  provenance: Record<string, unknown>;
  /** file names in the shard folder */
  files: string[];
  /** their sizes, mtimes and SHA-256 (a truncated shard file is recomputed, never merged) */
  fileRecords?: Record<string, ArtifactRecord>;
  saelabVersion: string;
  createdAt: string;
}

export const SHARD_RECORD = 'shard.json';
export const SHARD_STATE = 'state.json';

/** runs/<name>/<stage>/shards/<i>-of-<n>/ */
export function shardDir(stageDir: string, s: ShardSpec): string {
  return path.join(stageDir, 'shards', `${s.index}-of-${s.count}`);
}

/** The record of a complete shard computed from the same inputs and layout; null when it must be (re)computed. */
export function completeShard(stageDir: string, stage: string, inputs: unknown, s: ShardSpec, totalBatches: number): ShardRecord | null {
  const dir = shardDir(stageDir, s);
  const file = path.join(dir, SHARD_RECORD);
  if (!fs.existsSync(file)) return null;
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ShardRecord;
    if (r.stage !== stage || r.inputsHash !== configHash(inputs) || r.totalBatches !== totalBatches || r.count !== s.count || r.index !== s.index) return null;
    if (!r.files.every((f) => fs.existsSync(path.join(dir, f))) || !artifactsIntact(dir, r.fileRecords)) return null;
    return r;
  } catch {
    return null;
  }
}

/** Start (or restart) a shard: empty its folder, so a killed run never leaves a shard.json behind. */
export function beginShard(stageDir: string, s: ShardSpec): string {
  const dir = shardDir(stageDir, s);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Finish a shard: write shard.json last (atomically), after all its files. */
export function finishShard(stageDir: string, rec: Omit<ShardRecord, 'saelabVersion' | 'createdAt' | 'inputsHash'>, inputs: unknown): ShardRecord {
  const full: ShardRecord = { ...rec, fileRecords: recordArtifacts(shardDir(stageDir, rec), rec.files, `shard ${rec.index}/${rec.count} of ${rec.stage}`), inputsHash: configHash(inputs), saelabVersion: SAELAB_VERSION, createdAt: new Date().toISOString() };
  writeJsonAtomic(path.join(shardDir(stageDir, rec), SHARD_RECORD), full);
  return full;
}

/**
 * Read the `count` shards of a stage for merging, refusing anything that would not merge exactly: a
 * missing or unfinished shard, a shard computed from other inputs (config, model revision) or another
 * token range layout, or provenance (model commits) that differs from shard 0's. Errors name the shard.
 */
export function readShardsForMerge(stageDir: string, stage: string, inputs: unknown, count: number, totalBatches: number): ShardRecord[] {
  const want = configHash(inputs);
  const recs: ShardRecord[] = [];
  let next = 0;
  for (let i = 0; i < count; i++) {
    const spec = { index: i, count };
    const dir = shardDir(stageDir, spec);
    const file = path.join(dir, SHARD_RECORD);
    const name = `${stage} shard ${formatShard(spec)}`;
    if (!fs.existsSync(file)) throw new Error(`${name} is not complete (no ${path.relative(process.cwd(), file)}): run \`saelab stage ${stage} --shard ${formatShard(spec)}\` first`);
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ShardRecord;
    if (r.stage !== stage || r.index !== i || r.count !== count) throw new Error(`${name}: ${file} belongs to ${r.stage} shard ${r.index}/${r.count}`);
    if (r.inputsHash !== want) throw new Error(`${name} was computed from a different config (inputs ${r.inputsHash}, this config ${want}: model, revision, dataset or sample sizes changed): rerun that shard`);
    if (r.totalBatches !== totalBatches || r.range.first !== next) {
      throw new Error(`${name} has token range layout batches ${r.range.first}..${r.range.first + r.range.count} of ${r.totalBatches}, expected to start at batch ${next} of ${totalBatches}: rerun that shard`);
    }
    next += r.range.count;
    if (recs.length) {
      const a = JSON.stringify(recs[0].provenance);
      const b = JSON.stringify(r.provenance);
      if (a !== b) throw new Error(`${name} was computed from other models than shard 0/${count} (provenance ${b} vs ${a}: a model revision changed between shards): rerun it`);
    }
    const missing = r.files.filter((f) => !fs.existsSync(path.join(dir, f)));
    if (missing.length) throw new Error(`${name} lists files that are missing (${missing.join(', ')}): rerun that shard`);
    if (!artifactsIntact(dir, r.fileRecords)) throw new Error(`${name}: a file in ${dir} is not as the shard recorded it (truncated or changed since), or the shard was written by an older saelab: rerun that shard`);
    recs.push(r);
  }
  if (next !== totalBatches) throw new Error(`${stage}: the ${count} shards cover ${next} of ${totalBatches} batches`);
  return recs;
}

/** JSON that keeps NaN and ±Infinity (accumulator states hold them; plain JSON turns them into null). */
export function stringifyState(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? `__num:${v}` : v));
}

export function parseState<T>(text: string): T {
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && v.startsWith('__num:') ? Number(v.slice(6)) : v)) as T;
}

/** Write an accumulator state into a shard folder (atomic). */
export function writeShardState(dir: string, state: unknown): string {
  writeFileAtomic(path.join(dir, SHARD_STATE), stringifyState(state));
  return SHARD_STATE;
}

export function readShardState<T>(stageDir: string, s: ShardSpec): T {
  return parseState<T>(fs.readFileSync(path.join(shardDir(stageDir, s), SHARD_STATE), 'utf8'));
}
