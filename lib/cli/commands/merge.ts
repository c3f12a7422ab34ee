import * as path from 'path';
import { CliCommand } from '../types';
import { parseIntegerArg, parseOptions, required } from '../args';
import { findStage, shardableStages } from '../../stages/registry';
import { headlessStage } from '../../stages/shard/context';
import { stageArg } from './stage';

const usage = `usage: saelab merge <name> --shards n [--config C] [--run-name R]

Merges the n shards of a data-parallel stage (computed by \`saelab stage <name> --shard i/n\`) into
runs/<R>/<stage>/ exactly as a single-machine run writes it (counts and sums combined). Refuses shards
that are missing, unfinished, or computed from another config, model revision or token range layout,
naming the shard. Data-parallel stages: ${shardableStages().map((s) => s.name).join(', ')}`;

export const command: CliCommand = {
  name: 'merge',
  summary: 'merge the shards of a data-parallel stage into its artifacts',
  usage,
  async run(argv) {
    const { name, rest } = stageArg(argv, usage);
    const o = parseOptions(rest, { config: { type: 'string' }, 'run-name': { type: 'string' }, shards: { type: 'string' } }, usage);
    const count = parseIntegerArg(required(o.shards, 'shards', usage), 'shards', { min: 1 });
    const st = findStage(name)?.sharding;
    if (!st) throw new Error(`stage ${name} is not data-parallel (data-parallel: ${shardableStages().map((s) => s.name).join(', ')})`);
    const ctx = await headlessStage(name, { config: o.config, runName: o['run-name'] });
    const start = Date.now();
    const r = (await st.merge(ctx, count)) as { reused?: boolean };
    console.log(`${name}: ${r?.reused ? 'already merged (reused)' : `${count} shards merged in ${((Date.now() - start) / 1000).toFixed(1)} s`} -> ${path.relative(process.cwd(), ctx.stageDir)}`);
    return 0;
  },
};
