/**
 * `defineStage`: a pipeline stage from its name, the config fields it depends on and the function that
 * computes it. The stage object owns what every stage shares: reusing an earlier run's artifacts when the
 * inputs are unchanged, invalidating a stale stage before recomputing, writing the result file and the
 * manifest last, and (for data-parallel stages) running one shard and merging the shards. Register the
 * stage with one line in lib/stages/registry.ts; the notebooks, `saelab stage`/`merge` and the SLURM
 * pipeline find it there.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../io/atomic';
import { StageContext, StageManifest, invalidateStage, reusableStage, writeManifest } from '../notebook/stage';
import { ExperimentConfig } from './config';
import { BatchRange, ShardSpec, shardBatchRange } from './shard/spec';
import { ShardRecord, beginShard, completeShard, finishShard, readShardsForMerge, writeShardState } from './shard/store';

/** What a stage's `run` produced. */
export interface StageOutput<R> {
  /** the result (returned to the notebook; written to the result file with `reused: false` first) */
  result: Omit<R, 'reused'>;
  /** files written into the stage folder (relative paths), listed in the manifest; the result file is added */
  artifacts: string[];
  /** model revisions and other provenance recorded in the manifest */
  provenance?: Record<string, unknown>;
  /** what the result file holds when it differs from `result` (e.g. without a large SVG); revive it in `load` */
  saved?: object;
}

/** One shard's job: its index, its contiguous range of the stage's batches and its (empty) folder. */
export interface ShardJob {
  spec: ShardSpec;
  range: BatchRange;
  /** runs/<name>/<stage>/shards/<i>-of-<n>/ */
  dir: string;
}

/** What a shard's `run` produced. */
export interface ShardOutput {
  /** files written into the shard folder */
  files: string[];
  /** accumulator state to merge (written as state.json, which keeps NaN and ±Infinity) */
  state?: unknown;
  /** provenance every shard must share (model commits, hook, ...): a merge refuses shards that differ */
  provenance?: Record<string, unknown>;
}

/** How a data-parallel stage splits: contiguous ranges of `totalBatches` batches (token batches, checkpoints). */
export interface ShardDefinition {
  totalBatches(config: ExperimentConfig): number;
  /** sequences per batch, recorded in shard.json (default 1: a batch is one item) */
  batchSize?(config: ExperimentConfig): number;
  run(ctx: StageContext, job: ShardJob): Promise<ShardOutput>;
}

export interface StageDefinition<R extends { reused: boolean }, O = undefined> {
  /** the stage folder and notebook name, NN_words (e.g. 02_compute_similarities) */
  name: string;
  /** the config fields the stage depends on (the stage is recomputed when they change) */
  inputs(config: ExperimentConfig): unknown;
  /** the result file in the stage folder (default results.json) */
  resultFile?: string;
  /** compute the stage into ctx.stageDir; `opts` come from the caller or from `merge` */
  run(ctx: StageContext, opts: O | undefined): Promise<StageOutput<R>>;
  /** the result of a reused stage from its saved result file (default: the saved JSON with `reused: true`) */
  load?(saved: Record<string, unknown>, ctx: StageContext): R;
  /** data-parallel stages: how to compute one shard */
  shard?: ShardDefinition;
  /** the `opts` for `run` from the finished shards (default: none, e.g. when `run` reuses the shards' files itself) */
  merge?(ctx: StageContext, shards: ShardRecord[]): Promise<O> | O;
}

/**
 * A defined stage: called with a stage context (`await saeEvalStage(ctx)`, what its notebook and `saelab
 * stage` do) it reuses the stage's artifacts when its inputs are unchanged, else computes them. Its `name`
 * is the stage name.
 */
export interface Stage<R = unknown, O = unknown> {
  (ctx: StageContext, opts?: O): Promise<R>;
  readonly name: string;
  /** the number the name starts with ("02"): the notebook number */
  number: string;
  inputs(config: ExperimentConfig): unknown;
  resultFile: string;
  /** the stage's manifest when `stageDir` holds all its artifacts, computed from this config; else null */
  reusable(stageDir: string, config: ExperimentConfig): StageManifest | null;
  /** data-parallel stages only */
  sharding?: {
    totalBatches(config: ExperimentConfig): number;
    /** compute one shard (a complete shard with the same inputs and layout is reused) */
    shard(ctx: StageContext, s: ShardSpec): Promise<{ record: ShardRecord; reused: boolean }>;
    /** merge `count` shards into the stage folder exactly as a single-machine run writes it */
    merge(ctx: StageContext, count: number): Promise<R>;
  };
}

/** The number a stage name starts with ("04_sae_eval" -> "04"). */
export function stageNumber(name: string): string {
  const m = /^(\d+)_/.exec(name);
  if (!m) throw new Error(`stage name '${name}' must start with its number and an underscore (NN_words, e.g. 02_compute_similarities)`);
  return m[1];
}

/** Define a stage (see the module comment). */
export function defineStage<R extends { reused: boolean }, O = undefined>(def: StageDefinition<R, O>): Stage<R, O> {
  const number = stageNumber(def.name);
  const resultFile = def.resultFile ?? 'results.json';
  const reusable = (stageDir: string, config: ExperimentConfig): StageManifest | null => reusableStage(stageDir, def.inputs(config));
  const execute = async (ctx: StageContext, opts?: O): Promise<R> => {
    const { config, stageDir } = ctx;
    const file = path.join(stageDir, resultFile);
    if (reusable(stageDir, config) && fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      return def.load ? def.load(saved, ctx) : ({ ...saved, reused: true } as unknown as R);
    }
    invalidateStage(stageDir);
    const inputs = def.inputs(config);
    const out = await def.run(ctx, opts);
    writeJsonAtomic(file, { reused: false, ...(out.saved ?? out.result) });
    const artifacts = out.artifacts.includes(resultFile) ? out.artifacts : [...out.artifacts, resultFile];
    writeManifest(stageDir, def.name, inputs, artifacts, out.provenance ?? {});
    return { reused: false, ...out.result } as unknown as R;
  };
  const stage = Object.assign(execute, { number, inputs: def.inputs, resultFile, reusable }) as Stage<R, O>;
  Object.defineProperty(stage, 'name', { value: def.name });
  const sh = def.shard;
  if (sh) {
    stage.sharding = {
      totalBatches: sh.totalBatches,
      async shard(ctx, s) {
        const { config, stageDir } = ctx;
        const inputs = def.inputs(config);
        const total = sh.totalBatches(config);
        const done = completeShard(stageDir, def.name, inputs, s, total);
        if (done) return { record: done, reused: true };
        const range = shardBatchRange(total, s);
        const dir = beginShard(stageDir, s);
        const out = await sh.run(ctx, { spec: s, range, dir });
        const files = out.state === undefined ? out.files : [...out.files, writeShardState(dir, out.state)];
        const record = finishShard(stageDir, {
          stage: def.name, index: s.index, count: s.count, range, totalBatches: total, batchSize: sh.batchSize?.(config) ?? 1, provenance: out.provenance ?? {}, files,
        }, inputs);
        return { record, reused: false };
      },
      async merge(ctx, count) {
        if (reusable(ctx.stageDir, ctx.config) && fs.existsSync(path.join(ctx.stageDir, resultFile))) return execute(ctx);
        const shards = readShardsForMerge(ctx.stageDir, def.name, def.inputs(ctx.config), count, sh.totalBatches(ctx.config));
        return execute(ctx, def.merge ? await def.merge(ctx, shards) : undefined);
      },
    };
  }
  return stage;
}

/**
 * The folder of an earlier stage of the same run whose artifacts were computed from this config, or an
 * error saying which notebook (or `saelab stage`) to run first.
 */
export function requireStage(ctx: StageContext, stage: Pick<Stage, 'name' | 'number' | 'reusable'>): string {
  const dir = ctx.stageDirOf(stage.name);
  if (!stage.reusable(dir, ctx.config)) {
    throw new Error(`stage ${stage.name} has no results for this config in ${dir}: run notebook ${stage.number} first (or saelab stage ${stage.number}; npm run pipeline -- --from ${stage.number})`);
  }
  return dir;
}
