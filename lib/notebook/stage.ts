import * as fs from 'fs';
import * as path from 'path';
import { initBackend, describeBackend, BackendInfo } from '../backend';
import { writeJsonAtomic } from '../io/atomic';
import { SAELAB_ROOT, SAELAB_VERSION } from '../version';
import { ExperimentConfig, loadConfig, configHash, configPath } from './config';
import { displayBundle } from './display';
import { setMemoryLimit } from '../model/memory';
import { recordActivity, setActivityStage } from './activity';

/** What a notebook (or a CLI stage) gets from `setupStage`. */
export interface StageContext {
  stage: string;
  config: ExperimentConfig;
  configFile: string;
  backend: BackendInfo;
  /** runs/<experiment> (or $SAELAB_RUN_DIR) */
  runDir: string;
  /** runs/<experiment>/<stage> */
  stageDir: string;
  /** the folder of another stage of the same run */
  stageDirOf(stage: string): string;
}

/** The run folder: $SAELAB_RUN_DIR, else runs/<config name> under the saelab root. */
export function runDirFor(config: ExperimentConfig): string {
  return process.env.SAELAB_RUN_DIR ? path.resolve(process.env.SAELAB_RUN_DIR) : path.join(SAELAB_ROOT, 'runs', config.name);
}

/**
 * First call of every notebook: initialise the backend, load the experiment config, create the
 * stage folder, and show which backend, versions and config the run uses.
 */
export async function setupStage(stage: string, opts: { config?: string; quiet?: boolean } = {}): Promise<StageContext> {
  const backend = await initBackend();
  const configFile = configPath(opts.config);
  const config = loadConfig(configFile);
  setMemoryLimit(config.maxMemory);
  setActivityStage(stage);
  recordActivity('starting');
  const runDir = runDirFor(config);
  const stageDir = path.join(runDir, stage);
  fs.mkdirSync(stageDir, { recursive: true });
  if (!opts.quiet) {
    const text = `${describeBackend(backend)}\nconfig: ${path.relative(SAELAB_ROOT, configFile) || configFile} (experiment '${config.name}')\nartifacts: ${stageDir}`;
    displayBundle({ 'text/plain': text });
  }
  return { stage, config, configFile, backend, runDir, stageDir, stageDirOf: (s: string) => path.join(runDir, s) };
}

/** A stage's manifest: what it was computed from, so a rerun can reuse or recompute it. */
export interface StageManifest {
  stage: string;
  saelabVersion: string;
  configHash: string;
  /** the config fields the stage depends on */
  inputs: unknown;
  /** model revisions (commit hashes) and other provenance */
  provenance: Record<string, unknown>;
  /** artifact file names relative to the stage folder */
  artifacts: string[];
  createdAt: string;
}

/** Write manifest.json last, after all artifacts: its presence marks the stage complete. */
export function writeManifest(stageDir: string, stage: string, inputs: unknown, artifacts: string[], provenance: Record<string, unknown> = {}): StageManifest {
  const manifest: StageManifest = {
    stage, saelabVersion: SAELAB_VERSION, configHash: configHash(inputs), inputs, provenance, artifacts, createdAt: new Date().toISOString(),
  };
  writeJsonAtomic(path.join(stageDir, 'manifest.json'), manifest);
  return manifest;
}

/** The manifest of a complete stage whose inputs equal `inputs` and whose artifacts all exist; else null. */
export function reusableStage(stageDir: string, inputs: unknown): StageManifest | null {
  const file = path.join(stageDir, 'manifest.json');
  if (!fs.existsSync(file)) return null;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as StageManifest;
    if (m.configHash !== configHash(inputs)) return null;
    if (!m.artifacts.every((a) => fs.existsSync(path.join(stageDir, a)))) return null;
    return m;
  } catch {
    return null;
  }
}

/** Remove a stale manifest before recomputing, so a crash midway never leaves a stage that looks complete. */
export function invalidateStage(stageDir: string): void {
  fs.rmSync(path.join(stageDir, 'manifest.json'), { force: true });
}
