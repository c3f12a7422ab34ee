/**
 * Stand-ins for the published presets: the hub repos a preset names (models at every revision it
 * uses, SAE releases, datasets) written into a hub cache folder with the real ids, configs and file
 * layouts and seeded random contents, so `HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1` runs the unchanged
 * preset at its real shapes. `saelab make-standins` is the command.
 */
import * as fs from 'fs';
import { Progress } from '../notebook/progress';
import { configsFor, planStandins, StandinPlan } from './plan';
import { datasetRepo, modelRepo, saeRepo, StandinOptions } from './repos';
import { missingFiles, RepoWrite, writeStandinRepo } from './repoWriter';
import { demoWordChain, WordChain } from './text';

export * from './catalog';
export * from './shapes';
export * from './plan';
export * from './repos';
export * from './repoWriter';
export * from './tokenizerFiles';
export * from './text';
export { tensorChunks, streamSeed } from './fill';
export { writeSaeFolder } from './saes';

export interface MakeStandinsOptions extends StandinOptions {
  /** --like: a family (gpt2, pythia-70m-deduped, gemma-2b, mistral-7b), a preset name or a config file */
  like: string;
  /** words of text per dataset instead of what the configs' stages draw */
  datasetWords?: number;
  /** only print the plan */
  dryRun?: boolean;
  log?: (line: string) => void;
}

export interface MakeStandinsResult {
  plan: StandinPlan;
  repos: Array<{ repo: string; type: string; revision: string; bytes: number; written: number }>;
}

/** The repo writes of a plan (nothing is written yet). */
export function planWrites(plan: StandinPlan, o: StandinOptions, onBytes?: (n: number) => void): RepoWrite[] {
  let chain: Promise<WordChain> | null = null;
  const getChain = () => (chain ??= demoWordChain());
  const writes: RepoWrite[] = [];
  for (const [repo, revs] of plan.models) for (const rev of [...revs].sort()) writes.push(modelRepo(o, repo, rev, onBytes));
  for (const [release, ids] of plan.saes) writes.push(saeRepo(o, release, [...ids].sort()));
  for (const [repo, words] of plan.datasets) writes.push(datasetRepo(o, repo, words, getChain));
  return writes;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(bytes < 1e9 ? 3 : 2)} GB`;
}

/** Make (or complete) the stand-ins for `like` in `cacheRoot`; repos already complete are left as they are. */
export async function makeStandins(o: MakeStandinsOptions): Promise<MakeStandinsResult> {
  const log = o.log ?? ((l: string) => console.error(l));
  const plan = planStandins(configsFor(o.like), { datasetWords: o.datasetWords });
  let progress: Progress | null = null;
  const writes = planWrites(plan, o, (n) => progress?.tick(n));
  const rows = writes.map((w) => {
    const missing = missingFiles(w);
    return { repo: w.repoId, type: w.repoType, revision: w.revision, bytes: w.files.reduce((s, f) => s + f.bytes, 0), written: missing.reduce((s, f) => s + f.bytes, 0) };
  });
  const todo = rows.reduce((s, r) => s + r.written, 0);
  log(`make-standins --like ${o.like} (${o.scale}, seed ${o.seed}) into ${o.cacheRoot}:`);
  for (const r of rows) log(`  ${r.type} ${r.repo}@${r.revision}: ${gb(r.bytes)}${r.written === 0 ? ' (complete)' : r.written < r.bytes ? ` (${gb(r.written)} to write)` : ''}`);
  log(`  to write: ${gb(todo)}`);
  if (o.dryRun) return { plan, repos: rows };
  fs.mkdirSync(o.cacheRoot, { recursive: true });
  const free = fs.statfsSync(o.cacheRoot);
  const avail = free.bavail * free.bsize;
  if (todo > avail) throw new Error(`make-standins: ${gb(todo)} to write but only ${gb(avail)} free on the filesystem of ${o.cacheRoot}; free space or choose another --hub-cache`);
  const weightBytes = writes.filter((w) => w.repoType === 'model').reduce((s, w) => s + missingFiles(w).filter((f) => f.path.endsWith('.safetensors')).reduce((a, f) => a + f.bytes, 0), 0);
  progress = new Progress('stand-in weights (bytes)', weightBytes);
  for (const w of writes) await writeStandinRepo(w);
  progress.done();
  log(`  done: ${writes.length} repos in ${o.cacheRoot}; run with HF_HUB_CACHE=${o.cacheRoot} HF_HUB_OFFLINE=1`);
  return { plan, repos: rows };
}
