import * as path from 'path';
import { CliCommand } from '../types';
import { parseOptions } from '../args';
import { parseShard, formatShard, shardDir } from '../../stages/shard';
import { findStage, resolveStageName, shardableStages } from '../../stages/registry';
import { headlessStage } from '../../stages/shard/context';

const usage = `usage: saelab stage <name> [--config C] [--run-name R] [--shard i/n]

Runs one pipeline stage headless (no Jupyter), into runs/<R>/<stage>/ (default R: the config's name).
<name> is the stage folder name (02_compute_similarities), its number (02) or a word of it (similarities).

  --config C      experiment config (default $SAELAB_CONFIG, else configs/demo.json)
  --run-name R    the runs/ subfolder
  --shard i/n     compute only shard i (0-based) of n of a data-parallel stage: a contiguous range of its
                  token batches, saved under <stage>/shards/i-of-n/; \`saelab merge\` combines them.
                  A complete shard is not recomputed; an unfinished one is recomputed from scratch.
                  Data-parallel stages: ${shardableStages().map((s) => s.name).join(', ')}`;

/** Split a leading positional stage name off the options. */
export function stageArg(argv: string[], use: string): { name: string; rest: string[] } {
  if (!argv.length || argv[0].startsWith('-')) throw new Error(`missing the stage name\n\n${use}`);
  return { name: resolveStageName(argv[0]), rest: argv.slice(1) };
}

export const command: CliCommand = {
  name: 'stage',
  summary: 'run one pipeline stage (or one shard of it) headless, as SLURM jobs do',
  usage,
  async run(argv) {
    const { name, rest } = stageArg(argv, usage);
    const o = parseOptions(rest, { config: { type: 'string' }, 'run-name': { type: 'string' }, shard: { type: 'string' } }, usage);
    const spec = o.shard === undefined ? null : parseShard(o.shard);
    const stage = findStage(name)!;
    if (spec && !stage.sharding) throw new Error(`stage ${name} is not data-parallel and has no shards; run it without --shard (data-parallel: ${shardableStages().map((s) => s.name).join(', ')})`);
    const ctx = await headlessStage(name, { config: o.config, runName: o['run-name'] });
    const start = Date.now();
    if (spec) {
      const { record, reused } = await stage.sharding!.shard(ctx, spec);
      const r = record.range;
      console.log(`${name} shard ${formatShard(spec)}: ${reused ? 'already complete (reused)' : `done in ${((Date.now() - start) / 1000).toFixed(1)} s`}, batches ${r.first}..${r.first + r.count} of ${record.totalBatches} -> ${path.relative(process.cwd(), shardDir(ctx.stageDir, spec))}`);
      return 0;
    }
    const result = (await stage(ctx)) as { reused?: boolean };
    console.log(`${name}: ${result?.reused ? 'already complete (reused)' : `done in ${((Date.now() - start) / 1000).toFixed(1)} s`} -> ${path.relative(process.cwd(), ctx.stageDir)}`);
    return 0;
  },
};
