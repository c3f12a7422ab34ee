/**
 * What a stage is doing now (loading which model, in which dtype, running which batch), kept in
 * `$SAELAB_RUN_DIR/.activity.json` so that when a notebook's kernel dies (killed by the
 * out-of-memory killer, say) the pipeline can say which stage, which model and what it was doing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { isSaelabFolder } from '../io/folders';

export const ACTIVITY_FILE = '.activity.json';

export interface Activity {
  stage: string | null;
  /** e.g. "loading the finetune meta-math/MetaMath-Mistral-7B in bfloat16 (14.5 GB)" */
  doing: string;
  /** the model the stage holds or is loading ('base' / 'finetune' and its name), when it is about a model */
  model: string | null;
  rssBytes: number;
  at: string;
}

let stage: string | null = null;
let lastWrite = 0;
let last = '';

/** Name the stage the following activities belong to (setupStage does). */
export function setActivityStage(name: string | null): void {
  stage = name;
}

/** The activity file of a run folder. */
export function activityFile(runDir: string): string {
  return path.join(runDir, ACTIVITY_FILE);
}

/**
 * Record what the stage does now. A change of activity is written at once; repeats of the same one
 * (progress within it) at most every 2 s. Nothing is written outside a pipeline run (no SAELAB_RUN_DIR)
 * nor into a folder saelab has not claimed (the run folder is claimed before a stage records anything).
 */
export function recordActivity(doing: string, model: string | null = null): void {
  const dir = process.env.SAELAB_RUN_DIR;
  if (!dir || !isSaelabFolder(dir)) return;
  const now = Date.now();
  if (doing === last && now - lastWrite < 2000) return;
  last = doing;
  lastWrite = now;
  const a: Activity = { stage, doing, model, rssBytes: process.memoryUsage.rss(), at: new Date(now).toISOString() };
  try {
    writeFileAtomic(activityFile(dir), JSON.stringify(a) + '\n');
  } catch { /* the report is best effort: never fail a stage over it */ }
}

/** The last recorded activity of a run folder, or null. */
export function readActivity(runDir: string): Activity | null {
  try {
    return JSON.parse(fs.readFileSync(activityFile(runDir), 'utf8')) as Activity;
  } catch {
    return null;
  }
}
