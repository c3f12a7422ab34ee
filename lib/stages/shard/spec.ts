import { ArgumentError } from '../../io/errors';

/** One shard of a data-parallel stage: `index` of `count` (0-based, as SLURM_ARRAY_TASK_ID). */
export interface ShardSpec {
  index: number;
  count: number;
}

/** A contiguous range of whole batches: batches [first, first + count). */
export interface BatchRange {
  first: number;
  count: number;
}

/** Parse `--shard i/n` (0 <= i < n); an error names the value and the expected form. */
export function parseShard(text: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new ArgumentError(`--shard '${text}' is not of the form i/n (0-based shard index i of n shards, e.g. 0/3)`);
  const spec = { index: Number(m[1]), count: Number(m[2]) };
  if (spec.count < 1) throw new ArgumentError(`--shard '${text}': the shard count must be at least 1`);
  if (spec.index >= spec.count) throw new ArgumentError(`--shard '${text}': the index is 0-based and must be below the count (0/${spec.count} .. ${spec.count - 1}/${spec.count})`);
  return spec;
}

/** `i/n` as printed in messages and accepted by `--shard`. */
export function formatShard(s: ShardSpec): string {
  return `${s.index}/${s.count}`;
}

/**
 * The contiguous batch range of one shard: `total` batches split into `count` ranges whose sizes differ
 * by at most one, earlier shards taking the larger ones. Ranges cover [0, total) in order, without overlap;
 * with more shards than batches the last shards are empty.
 */
export function shardBatchRange(total: number, s: ShardSpec): BatchRange {
  if (!Number.isInteger(total) || total < 0) throw new Error(`shardBatchRange: total batches must be a whole number >= 0, got ${total}`);
  const base = Math.floor(total / s.count);
  const extra = total % s.count;
  const first = s.index * base + Math.min(s.index, extra);
  return { first, count: base + (s.index < extra ? 1 : 0) };
}

/** The sequence rows [start, end) of a batch range with `batchSize` sequences per batch (the last batch may be short). */
export function batchRangeRows(r: BatchRange, batchSize: number, totalRows: number): { start: number; end: number } {
  return { start: Math.min(r.first * batchSize, totalRows), end: Math.min((r.first + r.count) * batchSize, totalRows) };
}
