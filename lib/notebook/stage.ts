import * as fs from 'fs';
import * as path from 'path';
import { initBackend, describeBackend, BackendInfo } from '../backend';
import { createHash } from 'crypto';
import { writeJsonAtomic } from '../io/atomic';
import { SaelabError } from '../io/errors';
import { claimFolder, removeStaleTemps } from '../io/folders';
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

/** A run folder written before folder markers existed: it holds a stage folder with a saelab manifest, or the SLURM shared marker. */
function isEarlierRunFolder(dir: string): boolean {
  if (fs.existsSync(path.join(dir, '.saelab-shared'))) return true;
  return fs.readdirSync(dir, { withFileTypes: true }).some((e) => {
    if (!e.isDirectory()) return false;
    try {
      return typeof (JSON.parse(fs.readFileSync(path.join(dir, e.name, 'manifest.json'), 'utf8')) as { saelabVersion?: unknown }).saelabVersion === 'string';
    } catch {
      return false;
    }
  });
}

/**
 * Create (or accept) a run folder: saelab writes stage folders, notebooks and logs into it, so a
 * non-empty folder it did not create (a user's folder given as $SAELAB_RUN_DIR) is refused.
 */
export function claimRunFolder(runDir: string): string {
  return claimFolder(runDir, 'the run folder', { recognize: isEarlierRunFolder });
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
  const runDir = runDirFor(config);
  claimRunFolder(runDir);
  recordActivity('starting');
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
  /** each artifact file's size, modification time and SHA-256, checked before the stage is reused */
  files: Record<string, ArtifactRecord>;
  createdAt: string;
}

/** What the manifest records of one artifact file. */
export interface ArtifactRecord {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** The files of an artifact (a file, or every file under a folder), relative to the stage folder, sorted. */
function artifactFiles(stageDir: string, artifact: string): string[] {
  const full = path.join(stageDir, artifact);
  if (!fs.statSync(full).isDirectory()) return [artifact];
  return fs.readdirSync(full).sort().flatMap((f) => artifactFiles(stageDir, path.join(artifact, f)));
}

/** SHA-256 of a file, read in 4 MiB blocks (about 1-2 GB/s with SHA extensions: seconds for multi-GB activations). */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function recordOf(file: string): ArtifactRecord {
  const st = fs.statSync(file);
  return { size: st.size, mtimeMs: st.mtimeMs, sha256: sha256File(file) };
}

/** Size, mtime and SHA-256 of each artifact under `dir` (folders file by file), keyed by path relative to `dir`. */
export function recordArtifacts(dir: string, artifacts: string[], what = dir): Record<string, ArtifactRecord> {
  const files: Record<string, ArtifactRecord> = {};
  for (const a of artifacts) {
    if (!fs.existsSync(path.join(dir, a))) throw new SaelabError(`${what}: artifact ${path.join(dir, a)} was not written; the results are not complete`);
    for (const f of artifactFiles(dir, a)) files[f] = recordOf(path.join(dir, f));
  }
  return files;
}

/** True when every recorded artifact under `dir` is intact (see artifactIntact); false for a missing record. */
export function artifactsIntact(dir: string, records: Record<string, ArtifactRecord> | undefined): boolean {
  if (!records || typeof records !== 'object') return false;
  return Object.entries(records).every(([f, rec]) => artifactIntact(path.join(dir, f), rec));
}

/**
 * Write manifest.json last, after all artifacts: its presence marks the stage complete. It records each
 * artifact file's size, modification time and SHA-256 (folders file by file), which `reusableStage` checks.
 */
export function writeManifest(stageDir: string, stage: string, inputs: unknown, artifacts: string[], provenance: Record<string, unknown> = {}): StageManifest {
  const files = recordArtifacts(stageDir, artifacts, `stage ${stage}`);
  const manifest: StageManifest = {
    stage, saelabVersion: SAELAB_VERSION, configHash: configHash(inputs), inputs, provenance, artifacts, files, createdAt: new Date().toISOString(),
  };
  writeJsonAtomic(path.join(stageDir, 'manifest.json'), manifest);
  return manifest;
}

/**
 * True when an artifact file is as the manifest recorded it: same size, and same modification time or,
 * when the time differs (copied, touched, rewritten), the same SHA-256. Size + mtime keep the check free
 * for multi-GB activations; the hash catches a changed file whose size happens to match.
 */
function artifactIntact(file: string, rec: ArtifactRecord | undefined): boolean {
  if (!rec || typeof rec.size !== 'number' || typeof rec.sha256 !== 'string') return false;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size !== rec.size) return false;
  return st.mtimeMs === rec.mtimeMs || sha256File(file) === rec.sha256;
}

/**
 * The manifest of a complete stage whose inputs equal `inputs` and whose artifacts are all intact (each
 * file's size and hash as recorded); else null. Temporaries of killed runs in the stage folder are removed.
 */
export function reusableStage(stageDir: string, inputs: unknown): StageManifest | null {
  removeStaleTemps(stageDir);
  const file = path.join(stageDir, 'manifest.json');
  if (!fs.existsSync(file)) return null;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as StageManifest;
    if (m.configHash !== configHash(inputs)) return null;
    if (!m.artifacts.every((a) => fs.existsSync(path.join(stageDir, a)))) return null;
    return artifactsIntact(stageDir, m.files) ? m : null;
  } catch {
    return null;
  }
}

/**
 * Remove a stale manifest before recomputing, so a crash midway never leaves a stage that looks complete;
 * also the temporaries a killed run of the stage left behind.
 */
export function invalidateStage(stageDir: string): void {
  fs.rmSync(path.join(stageDir, 'manifest.json'), { force: true });
  removeStaleTemps(stageDir);
}
