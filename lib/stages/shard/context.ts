import * as path from 'path';
import { setupStage, StageContext } from '../../notebook/stage';
import { SAELAB_ROOT } from '../../version';

/**
 * The stage context for a headless run (CLI, SLURM job): `runName` selects runs/<runName>/ (it sets
 * SAELAB_RUN_DIR), else $SAELAB_RUN_DIR, else runs/<config name>.
 */
export async function headlessStage(stage: string, opts: { config?: string; runName?: string }): Promise<StageContext> {
  if (opts.runName !== undefined) {
    if (!/^[A-Za-z0-9._-]+$/.test(opts.runName)) throw new Error(`run name '${opts.runName}' must be letters, digits, '.', '_' or '-'`);
    process.env.SAELAB_RUN_DIR = path.join(SAELAB_ROOT, 'runs', opts.runName);
  }
  return setupStage(stage, { config: opts.config, quiet: true });
}
