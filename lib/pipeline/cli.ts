import { parseOptions } from '../cli/args';
import { runPipeline, describeFailure } from './run';

const USAGE = `usage: npm run pipeline -- [--config configs/demo.json] [--from 01] [--to 05] [--run-name NAME]

Executes notebooks/NN_*.ipynb in numeric order, headless, into runs/<NAME>/ (default: the config's name).
SAELAB_CONFIG selects the config when --config is not given.`;

/** `npm run pipeline` entry point. */
export async function pipelineMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseOptions(argv, { config: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'run-name': { type: 'string' } }, USAGE);
  const start = Date.now();
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
