import * as path from 'path';
import { loadConfig, configPath } from '../stages/config';
import { SAELAB_ROOT } from '../version';
import { executeNotebook, findJupyterPython, listNotebooks, PipelineNotebook } from './notebooks';
import { validatePathName } from '../io/folders';
import { claimRunFolder } from '../notebook/stage';

export interface PipelineOptions {
  config?: string;
  /** first stage number to run (inclusive), e.g. "01" */
  from?: string;
  /** last stage number to run (inclusive) */
  to?: string;
  /** runs/<runName>; default the config's name */
  runName?: string;
  notebooksDir?: string;
  log?: (line: string) => void;
}

export interface PipelineResult {
  ok: boolean;
  runDir: string;
  stages: Array<{ name: string; ok: boolean; seconds: number }>;
  failure?: { notebook: string; cell?: number; error?: string; source?: string };
}

/** Notebooks selected by --from/--to (numbers compared numerically). */
export function selectStages(all: PipelineNotebook[], from?: string, to?: string): PipelineNotebook[] {
  const lo = from === undefined ? -Infinity : Number(from);
  const hi = to === undefined ? Infinity : Number(to);
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new Error(`--from/--to take stage numbers like 01, got ${from} / ${to}`);
  return all.filter((n) => Number(n.number) >= lo && Number(n.number) <= hi);
}

/**
 * Run the numbered notebooks in order, headless, into runs/<name>/ (executed .ipynb + .html beside
 * each stage's artifact folder). Stops at the first failing cell, naming notebook, cell and error;
 * earlier stages' outputs stay as they are.
 */
export async function runPipeline(opts: PipelineOptions = {}): Promise<PipelineResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const cfgFile = configPath(opts.config);
  const config = loadConfig(cfgFile);
  const runName = opts.runName ?? config.name;
  validatePathName(runName, 'run name');
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  claimRunFolder(runDir);
  const python = findJupyterPython();
  const stages = selectStages(listNotebooks(opts.notebooksDir), opts.from, opts.to);
  if (!stages.length) throw new Error(`no notebooks selected (from ${opts.from ?? 'start'} to ${opts.to ?? 'end'})`);
  log(`saelab pipeline: ${stages.length} stage(s), config ${path.relative(SAELAB_ROOT, cfgFile)}, into ${path.relative(SAELAB_ROOT, runDir)}/`);
  const result: PipelineResult = { ok: true, runDir, stages: [] };
  for (const nb of stages) {
    log(`  ${nb.name} ...`);
    const r = await executeNotebook(nb, runDir, { SAELAB_CONFIG: cfgFile, SAELAB_RUN_DIR: runDir }, python);
    result.stages.push({ name: nb.name, ok: r.ok, seconds: r.seconds });
    if (!r.ok) {
      result.ok = false;
      result.failure = { notebook: nb.name, cell: r.cell, error: r.error, source: r.source };
      log(`  ${nb.name} FAILED after ${r.seconds.toFixed(1)} s`);
      return result;
    }
    log(`  ${nb.name} ok (${r.seconds.toFixed(1)} s) -> ${path.relative(SAELAB_ROOT, path.join(runDir, nb.name))}.html`);
  }
  return result;
}

/** The failure message: notebook, cell number (1-based, as Jupyter shows cells) and error. */
export function describeFailure(f: NonNullable<PipelineResult['failure']>): string {
  const cell = f.cell === undefined ? 'an unknown cell' : `cell ${f.cell + 1}`;
  const src = f.source ? `\n--- cell source ---\n${f.source}\n---` : '';
  return `pipeline stopped: notebook ${f.notebook}.ipynb, ${cell} failed:\n${f.error ?? '(no error text)'}${src}`;
}
