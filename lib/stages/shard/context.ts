import * as path from 'path';
import { setupStage, StageContext } from '../../notebook/stage';
import { SAELAB_ROOT } from '../../version';
import { validatePathName } from '../../io/folders';

/**
 * The stage context for a headless run (CLI, SLURM job): `runName` selects runs/<runName>/ (it sets
 * SAELAB_RUN_DIR), else $SAELAB_RUN_DIR, else runs/<config name>.
 */
export async function headlessStage(stage: string, opts: { config?: string; runName?: string }): Promise<StageContext> {
  if (opts.runName !== undefined) {
    validatePathName(opts.runName, 'run name');
    process.env.SAELAB_RUN_DIR = path.join(SAELAB_ROOT, 'runs', opts.runName);
  }
  return setupStage(stage, { config: opts.config, quiet: true });
}
