import { parseIntegerArg, parseOptions } from '../cli/args';
import { ArgumentError } from '../io/errors';
import { checkSchedulerArgs, runPipelineSlurm } from './slurm';
import { runPipeline, describeFailure } from './run';

const USAGE = `usage: npm run pipeline -- [--config configs/demo.json] [--from 01] [--to 05] [--run-name NAME]
                          [--scheduler local|slurm] [--shards N] [--partition P] [--time T] [--gpus G] [--no-notebooks]

Executes notebooks/NN_*.ipynb in numeric order, headless, into runs/<NAME>/ (default: the config's name).
SAELAB_CONFIG selects the config when --config is not given.

--scheduler slurm submits the stages as SLURM jobs instead (sbatch; see docs/slurm.md): data-parallel
stages as job arrays of --shards shards plus a merge job, each job waiting (afterok) for the previous,
then a job rendering the notebooks (--no-notebooks leaves it out). --partition, --time and --gpus are
passed to sbatch (--gpus only for jobs that run models). runs/ must be on a filesystem the nodes share;
per-job and per-shard logs go to runs/<NAME>/logs/.`;

/** `npm run pipeline` entry point. */
export async function pipelineMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseOptions(argv, {
    config: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'run-name': { type: 'string' },
    scheduler: { type: 'string' }, shards: { type: 'string' }, partition: { type: 'string' }, time: { type: 'string' }, gpus: { type: 'string' }, 'no-notebooks': { type: 'boolean' },
  }, USAGE);
  const start = Date.now();
  const scheduler = o.scheduler ?? 'local';
  if (scheduler !== 'local' && scheduler !== 'slurm') throw new ArgumentError(`--scheduler must be local or slurm, got '${scheduler}'`);
  if (scheduler === 'local' && [o.shards, o.partition, o.time, o.gpus].some((v) => v !== undefined)) throw new ArgumentError('--shards, --partition, --time and --gpus need --scheduler slurm');
  if (scheduler === 'slurm') {
    const shards = parseIntegerArg(o.shards, 'shards', { min: 1, dflt: 1 });
    checkSchedulerArgs(o);
    const r = await runPipelineSlurm({ config: o.config, from: o.from, to: o.to, runName: o['run-name'], shards, partition: o.partition, time: o.time, gpus: o.gpus, notebooks: !o['no-notebooks'] });
    if (!r.ok && r.failure) {
      console.error(`pipeline failed on SLURM: ${r.failure.message}`);
      return 1;
    }
    console.log(`pipeline done on SLURM in ${((Date.now() - start) / 1000).toFixed(0)} s: ${r.runDir}`);
    return 0;
  }
  const r = await runPipeline({ config: o.config, from: o.from, to: o.to, runName: o['run-name'] });
  if (!r.ok && r.failure) {
    console.error(describeFailure(r.failure));
    return 1;
  }
  console.log(`pipeline done in ${((Date.now() - start) / 1000).toFixed(0)} s: ${r.runDir}`);
  return 0;
}

if (require.main === module) {
  pipelineMain(process.argv.slice(2)).then((c) => process.exit(c), (e) => { console.error(`pipeline: ${(e as Error).message}`); process.exit(1); });
}
