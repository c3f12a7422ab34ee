import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { SAELAB_ROOT } from '../version';
import { configPath, loadConfig } from '../stages/config';
import { listNotebooks } from './notebooks';
import { selectStages } from './run';
import { STAGES, findStage } from '../stages/registry';
import { validatePathName } from '../io/folders';
import { ArgumentError } from '../io/errors';
import { claimRunFolder } from '../notebook/stage';

/** One sbatch submission: a single job, or a job array of shards. */
export interface SlurmJob {
  /** unique key, also the log and status file stem: "01_compute_activations.shards", "...merge", "check" */
  key: string;
  /** the pipeline stage it belongs to ("check" and "notebooks" for the bookend jobs) */
  stage: string;
  kind: 'check' | 'stage' | 'shards' | 'merge' | 'notebooks';
  /** shards of a job array (kind "shards") */
  array?: number;
  /** keys of the jobs this one waits for (afterok) */
  after: string[];
  /** the command the job runs, as argv (array jobs: `$TASK` stands for the shard index) */
  argv: string[];
  /** needs the accelerator (--gpus applies) */
  gpu: boolean;
}

export interface SlurmPlanOptions {
  shards: number;
  config: string;
  runName: string;
  /** --from/--to, passed to the final notebooks job */
  from?: string;
  to?: string;
  /** render the notebooks (.ipynb/.html) in a last job, reusing the computed stages (needs Jupyter on the node) */
  notebooks: boolean;
  /** the node program the jobs run (default: this one) */
  node?: string;
}

/**
 * The jobs for the selected stages (names of stages in lib/stages/registry.ts, in order), in submission order: a check that runs/ is visible from the nodes,
 * then per stage either a job array of `--shards` shards plus a merge job (data-parallel stages), or one
 * stage job; each waits (afterok) for the previous one. Last, optionally, a job that executes the
 * notebooks, which find every stage complete and only render it.
 */
export function planSlurmJobs(stages: string[], o: SlurmPlanOptions): SlurmJob[] {
  stages = [...new Set(stages)].sort((a, b) => stageNumber(a) - stageNumber(b));
  const node = o.node ?? process.execPath;
  const cli = path.join(SAELAB_ROOT, 'bin', 'saelab.js');
  const common = ['--config', o.config, '--run-name', o.runName];
  const jobs: SlurmJob[] = [{ key: 'check', stage: 'check', kind: 'check', after: [], argv: [], gpu: false }];
  let prev = 'check';
  const push = (j: SlurmJob) => { jobs.push(j); prev = j.key; };
  for (const name of stages) {
    const stage = findStage(name);
    if (!stage) throw new Error(`stage ${name} has no headless function (it is not registered in lib/stages/registry.ts); stages: ${STAGES.map((s) => s.name).join(', ')}`);
    if (stage.sharding && o.shards > 1) {
      push({ key: `${name}.shards`, stage: name, kind: 'shards', array: o.shards, after: [prev], argv: [node, cli, 'stage', name, ...common, '--shard', `$TASK/${o.shards}`], gpu: true });
      push({ key: `${name}.merge`, stage: name, kind: 'merge', after: [prev], argv: [node, cli, 'merge', name, ...common, '--shards', String(o.shards)], gpu: false });
    } else {
      push({ key: name, stage: name, kind: 'stage', after: [prev], argv: [node, cli, 'stage', name, ...common], gpu: true });
    }
  }
  if (o.notebooks) {
    const range = [...(o.from ? ['--from', o.from] : []), ...(o.to ? ['--to', o.to] : [])];
    push({ key: 'notebooks', stage: 'notebooks', kind: 'notebooks', after: [prev], argv: [node, path.join(SAELAB_ROOT, 'dist', 'lib', 'pipeline', 'cli.js'), ...common, ...range], gpu: false });
  }
  return jobs;
}

/** The number a stage or notebook name starts with ("04_sae_eval" -> 4); NaN-free: names without one sort last. */
function stageNumber(name: string): number {
  const n = Number(name.split('_')[0]);
  return Number.isFinite(n) ? n : Infinity;
}

/** What a SLURM run of --from/--to does with each selected stage. */
export interface SlurmStageSelection {
  /** stages with a headless function, in stage order: each runs as its own job(s) */
  jobs: string[];
  /** selected notebooks whose number has no headless function (00_environment, notebook-only studies): they run only inside the notebooks job */
  notebookOnly: string[];
}

/**
 * Split the --from/--to range into stages that run as jobs (every stage in lib/stages/registry.ts,
 * shardable or not) and notebooks that have no headless function and can only run in the final
 * notebooks job. `headless`: the registered stage names; `notebooks`: the numbered notebooks' names.
 */
export function selectSlurmStages(headless: string[], notebooks: string[], from?: string, to?: string): SlurmStageSelection {
  const asStage = (name: string) => ({ number: name.split('_')[0], name, file: '' });
  const jobs = selectStages(headless.map(asStage), from, to).map((s) => s.name).sort((a, b) => stageNumber(a) - stageNumber(b));
  const numbers = new Set(headless.map((h) => Number(h.split('_')[0])));
  const notebookOnly = selectStages(notebooks.map(asStage), from, to).filter((s) => !numbers.has(Number(s.number))).map((s) => s.name);
  return { jobs, notebookOnly };
}

export interface SbatchOptions {
  runName: string;
  runDir: string;
  /** runs/<name>/logs */
  logDir: string;
  /** the token the check job must read from runDir/.saelab-shared */
  token: string;
  partition?: string;
  time?: string;
  gpus?: string;
}

/** Quote one word for bash. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_/.:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * One `#SBATCH` option value, double-quoted (sbatch groups quoted characters into one argument and strips
 * the quotes; a backslash escapes a quote or backslash).
 */
export function sbatchWord(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** What --partition, --time and --gpus may be: SLURM's own syntax, no whitespace, quotes or shell characters. */
const SCHEDULER_ARGS: Array<['partition' | 'time' | 'gpus', RegExp, string]> = [
  ['partition', /^[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*$/, 'partition names (letters, digits, _ . + -) separated by commas, e.g. gpu or gpu,debug'],
  ['time', /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE|unlimited|infinite)$/,
    'a SLURM time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 02:00:00)'],
  ['gpus', /^([A-Za-z0-9_.-]+:)?\d+$/, 'a GPU count, optionally with a type: 1, 4 or a100:2'],
];

/** Check --partition / --time / --gpus before they go into a batch script; an ArgumentError names the flag. */
export function checkSchedulerArgs(o: { partition?: string; time?: string; gpus?: string }): void {
  for (const [flag, re, what] of SCHEDULER_ARGS) {
    const v = o[flag];
    if (v !== undefined && !re.test(v)) throw new ArgumentError(`--${flag} ${JSON.stringify(v)} is not valid: give ${what}`);
  }
}

/** Log file of a job (array jobs: of one shard). */
export function jobLogPath(logDir: string, job: SlurmJob, task?: number): string {
  return path.join(logDir, job.array ? `${job.key}-${task ?? '%a'}.log` : `${job.key}.log`);
}

/** Status file a job writes when its command ends: the exit code. */
export function jobStatusPath(logDir: string, job: SlurmJob, task = 0): string {
  return path.join(logDir, 'status', `${job.key}.${task}.exit`);
}

export const SHARED_MARKER = '.saelab-shared';

/**
 * The batch script of a job. `dependencyIds`: SLURM job ids of `job.after` (afterok; an array job's id
 * waits for all its tasks). The script refuses to run when runs/ is not the submitting machine's (the
 * marker token differs), and records its exit code in logs/status/ for the waiting pipeline.
 */
export function sbatchScript(job: SlurmJob, o: SbatchOptions, dependencyIds: string[]): string {
  checkSchedulerArgs(o);
  const lines = ['#!/bin/bash', `#SBATCH --job-name=${sbatchWord(slurmJobName(o.runName, job))}`, `#SBATCH --output=${sbatchWord(jobLogPath(o.logDir, job))}`];
  if (job.array) lines.push(`#SBATCH --array=0-${job.array - 1}`);
  if (dependencyIds.length) lines.push(`#SBATCH --dependency=afterok:${dependencyIds.join(':')}`, '#SBATCH --kill-on-invalid-dep=yes');
  if (o.partition !== undefined) lines.push(`#SBATCH --partition=${sbatchWord(o.partition)}`);
  if (o.time !== undefined) lines.push(`#SBATCH --time=${sbatchWord(o.time)}`);
  if (o.gpus !== undefined && job.gpu) lines.push(`#SBATCH --gpus=${sbatchWord(o.gpus)}`);
  const marker = path.join(o.runDir, SHARED_MARKER);
  const status = path.join(o.logDir, 'status', `${job.key}.$TASK.exit`);
  lines.push(
    'set -uo pipefail',
    'TASK="${SLURM_ARRAY_TASK_ID:-0}"',
    `if [ "$(cat ${shellQuote(marker)} 2>/dev/null)" != ${shellQuote(o.token)} ]; then`,
    `  echo "saelab: node $(hostname) cannot see ${marker} (or it belongs to another submission): runs/ must be on a filesystem shared by the submitting machine and the nodes" >&2`,
    '  exit 3',
    'fi',
    `cd ${shellQuote(SAELAB_ROOT)}`,
    `echo "saelab ${job.key}\${SLURM_ARRAY_TASK_ID:+ shard $TASK} on $(hostname), job \${SLURM_JOB_ID:-?}"`,
  );
  if (job.kind === 'check') {
    lines.push('rc=0');
  } else {
    lines.push(job.argv.map((a) => (a.includes('$TASK') ? `"${a.replace(/"/g, '\\"')}"` : shellQuote(a))).join(' '), 'rc=$?');
  }
  lines.push(`mkdir -p ${shellQuote(path.dirname(status.replace('$TASK', '0')))}`, `echo "$rc" > "${status}.tmp" && mv "${status}.tmp" "${status}"`, 'exit "$rc"', '');
  return lines.join('\n');
}

/** One row of `squeue -r`: a job or one array task. */
export interface QueueEntry {
  jobId: string;
  task?: number;
  state: string;
  node: string;
  reason: string;
}

/** The scheduler commands the pipeline uses (a fake in unit tests). */
export interface SlurmClient {
  /** submit a batch script file; resolve the job id */
  submit(scriptFile: string): string;
  /** queued/running jobs and array tasks among `jobIds` */
  queue(jobIds: string[]): QueueEntry[];
  cancel(jobIds: string[]): void;
  /** this user's queued or running jobs (id and name), to find an earlier submission still at work */
  queuedNames?(): Array<{ jobId: string; name: string }>;
}

/** The SLURM job name of a pipeline job: saelab-<run>-<key>. */
export function slurmJobName(runName: string, job: Pick<SlurmJob, 'key'>): string {
  return `saelab-${runName}-${job.key}`;
}

/** Ids of queued jobs that belong to a submission for `runName` (names saelab-<run>-<check|notebooks|NN_stage[.shards|.merge]>). */
export function staleJobIds(queued: Array<{ jobId: string; name: string }>, runName: string): string[] {
  const prefix = `saelab-${runName}-`;
  return [...new Set(queued.filter((q) => q.name.startsWith(prefix) && /^(check|notebooks|\d+_[A-Za-z0-9_]+(\.shards|\.merge)?)$/.test(q.name.slice(prefix.length))).map((q) => q.jobId))];
}

/** Parse `squeue -h -r -o '%i|%T|%N|%r'` output (array tasks as 123_4; a pending array as 123_[0-2]). */
export function parseSqueue(text: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [id, state, node, reason] = line.trim().split('|');
    const m = /^(\d+)(?:_(\d+|\[.*\]))?$/.exec(id);
    if (!m) continue;
    if (m[2] && m[2].startsWith('[')) {
      for (const part of m[2].slice(1, -1).split('%')[0].split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let t = a; t <= (b ?? a); t++) out.push({ jobId: m[1], task: t, state, node: node ?? '', reason: reason ?? '' });
      }
    } else {
      out.push({ jobId: m[1], task: m[2] === undefined ? undefined : Number(m[2]), state, node: node ?? '', reason: reason ?? '' });
    }
  }
  return out;
}

/** sbatch input variables that would override the script's own directives (sbatch: environment beats #SBATCH lines). */
const SBATCH_ALWAYS_OURS = ['SBATCH_JOB_NAME', 'SBATCH_OUTPUT', 'SBATCH_ERROR', 'SBATCH_ARRAY_INX'];
const SBATCH_OVERRIDES: Array<[string, string]> = [['--partition', 'SBATCH_PARTITION'], ['--time', 'SBATCH_TIMELIMIT'], ['--gpus', 'SBATCH_GPUS']];

/**
 * The environment for `sbatch script`: the caller's, so site settings such as SBATCH_ACCOUNT, SBATCH_QOS or
 * SBATCH_MEM_PER_NODE apply to every job, minus the SBATCH_* variables that would override what the
 * script decides (job name, log file, stderr, array range, and --partition/--time/--gpus when given).
 */
export function sbatchEnv(script: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of SBATCH_ALWAYS_OURS) delete out[name];
  for (const [opt, name] of SBATCH_OVERRIDES) if (script.includes(`\n#SBATCH ${opt}=`)) delete out[name];
  return out;
}

/** The scheduler did not answer a queue query (controller restarting, network); the wait retries. */
export class SchedulerUnavailable extends Error {}

/** The real client: sbatch, squeue and scancel on PATH. */
export function commandLineSlurm(): SlurmClient {
  const run = (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env });
    if (r.error) throw new Error(`${cmd} could not be run (${r.error.message}): is SLURM installed here? For a one-machine cluster: sudo bash scripts/slurm-local.sh`);
    return r;
  };
  return {
    submit(file) {
      const r = run('sbatch', ['--parsable', file], sbatchEnv(fs.readFileSync(file, 'utf8')));
      if (r.status !== 0) throw new Error(`sbatch ${file} failed: ${(r.stderr || r.stdout).trim()}`);
      return r.stdout.trim().split(';')[0];
    },
    queue(ids) {
      if (!ids.length) return [];
      const r = run('squeue', ['-h', '-r', '-o', '%i|%T|%N|%r', '-j', ids.join(',')]);
      // squeue exits non-zero for ids it no longer knows (those have simply left the queue), and when the
      // controller does not answer: that must not look like jobs that vanished
      if (r.status !== 0 && !/Invalid job id/i.test(r.stderr ?? '')) throw new SchedulerUnavailable(`squeue failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
      return parseSqueue(r.stdout ?? '');
    },
    cancel(ids) {
      if (ids.length) run('scancel', ids);
    },
    queuedNames() {
      const r = run('squeue', ['--me', '-h', '-o', '%F|%j']);
      if (r.status !== 0) throw new Error(`squeue failed: ${(r.stderr || r.stdout).trim()}`);
      return r.stdout.split('\n').filter((l) => l.includes('|')).map((l) => {
        const [jobId, ...name] = l.trim().split('|');
        return { jobId, name: name.join('|') };
      });
    },
  };
}

export interface SlurmRunOptions extends SbatchOptions {
  client: SlurmClient;
  /** seconds between polls */
  pollSeconds?: number;
  log?: (line: string) => void;
  /** polls a task may be missing from the queue without a status file before it counts as killed */
  graceMisses?: number;
  /** consecutive polls the scheduler may not answer (SchedulerUnavailable) before the wait gives up */
  maxUnanswered?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface SlurmFailure {
  stage: string;
  job: string;
  /** "i/n" for a shard */
  shard?: string;
  log: string;
  exitCode: number | null;
  message: string;
}

export interface SlurmRunResult {
  ok: boolean;
  jobIds: Record<string, string>;
  failure?: SlurmFailure;
}

/** Write each job's script to logs/sbatch/<key>.sbatch and submit them in order with afterok dependencies. */
export function submitJobs(jobs: SlurmJob[], o: SlurmRunOptions): Record<string, string> {
  const ids: Record<string, string> = {};
  fs.mkdirSync(path.join(o.logDir, 'sbatch'), { recursive: true });
  fs.mkdirSync(path.join(o.logDir, 'status'), { recursive: true });
  for (const job of jobs) {
    for (let t = 0; t < (job.array ?? 1); t++) fs.rmSync(jobStatusPath(o.logDir, job, t), { force: true });
    const file = path.join(o.logDir, 'sbatch', `${job.key}.sbatch`);
    fs.writeFileSync(file, sbatchScript(job, o, job.after.map((k) => ids[k])));
    ids[job.key] = o.client.submit(file);
  }
  return ids;
}

function describeJobFailure(job: SlurmJob, task: number, o: SbatchOptions, exitCode: number | null, why: string): SlurmFailure {
  const log = jobLogPath(o.logDir, job, task);
  const shard = job.array ? `${task}/${job.array}` : undefined;
  const what = job.kind === 'check' ? 'the shared-filesystem check' : `stage ${job.stage}${shard ? ` shard ${shard}` : job.kind === 'merge' ? ' (merge)' : ''}`;
  let message = `${what} failed (SLURM job ${job.key}${shard ? `, task ${task}` : ''}): ${why}; log: ${log}`;
  if (job.kind === 'check' || exitCode === 3) message += `\nruns/ must be on a filesystem shared by this machine and the nodes (the job could not read ${path.join(o.runDir, SHARED_MARKER)}): put the checkout (or runs/, e.g. a symlink) on the cluster's shared storage`;
  if (fs.existsSync(log)) {
    const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-8).join('\n');
    if (tail) message += `\n--- last lines of ${path.basename(log)} ---\n${tail}`;
  }
  return { stage: job.stage, job: job.key, shard, log, exitCode, message };
}

/**
 * Wait for submitted jobs, printing progress (per job: tasks done / total, running, pending) when it
 * changes. A task that exits non-zero, or leaves the queue without an exit status (killed: time limit,
 * memory, node failure, scancel), fails the run: the remaining jobs are cancelled and the failure names
 * the stage, the shard and its log.
 */
export async function waitForJobs(jobs: SlurmJob[], ids: Record<string, string>, o: SlurmRunOptions): Promise<SlurmRunResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const grace = o.graceMisses ?? 3;
  const misses = new Map<string, number>();
  const start = Date.now();
  let lastLine = '';
  let unanswered = 0;
  for (;;) {
    let queue: QueueEntry[];
    try {
      queue = o.client.queue(jobs.map((j) => ids[j.key]));
      unanswered = 0;
    } catch (e) {
      if (!(e instanceof SchedulerUnavailable)) throw e;
      unanswered++;
      if (unanswered > (o.maxUnanswered ?? 60)) throw new Error(`SLURM did not answer ${unanswered} queue queries in a row (${e.message}); the jobs may still be running (squeue --me): rerun the same command later to resume`);
      if (unanswered === 1) log(`  (SLURM does not answer: ${e.message}; retrying)`);
      await sleep((o.pollSeconds ?? 2) * 1000);
      continue;
    }
    const parts: string[] = [];
    let allDone = true;
    for (const job of jobs) {
      const n = job.array ?? 1;
      let done = 0;
      let running = 0;
      for (let t = 0; t < n; t++) {
        const status = jobStatusPath(o.logDir, job, t);
        if (fs.existsSync(status)) {
          const code = Number(fs.readFileSync(status, 'utf8').trim());
          if (code !== 0) return fail(job, t, code, `exit code ${code}`);
          done++;
          continue;
        }
        allDone = false;
        const q = queue.find((e) => e.jobId === ids[job.key] && (job.array ? e.task === t : true));
        const id = `${job.key}.${t}`;
        if (q) {
          misses.delete(id);
          if (q.state === 'RUNNING' || q.state === 'COMPLETING') running++;
          if (q.reason === 'DependencyNeverSatisfied') return fail(job, t, null, 'a job it depends on failed (DependencyNeverSatisfied)');
          if (/^(FAILED|TIMEOUT|CANCELLED|OUT_OF_MEMORY|NODE_FAIL|BOOT_FAIL|DEADLINE|PREEMPTED)/.test(q.state)) return fail(job, t, null, `SLURM state ${q.state}`);
        } else {
          const m = (misses.get(id) ?? 0) + 1;
          misses.set(id, m);
          if (m > grace) return fail(job, t, null, 'it left the queue without recording an exit status (killed by a time or memory limit, a node failure or scancel, or runs/ is not shared with the node)');
        }
      }
      parts.push(job.array ? `${job.key.replace(/\.shards$/, '')} shards ${done}/${n}${running ? ` (${running} running)` : ''}` : `${job.key} ${done ? 'done' : running ? 'running' : 'pending'}`);
    }
    if (allDone) {
      log(`  all ${jobs.length} SLURM jobs done in ${((Date.now() - start) / 1000).toFixed(0)} s`);
      return { ok: true, jobIds: ids };
    }
    const line = parts.join(' | ');
    if (line !== lastLine) {
      log(`  [${((Date.now() - start) / 1000).toFixed(0)} s] ${line}`);
      lastLine = line;
    }
    await sleep((o.pollSeconds ?? 2) * 1000);
  }

  function fail(job: SlurmJob, task: number, code: number | null, why: string): SlurmRunResult {
    const failure = describeJobFailure(job, task, o, code, why);
    const pending = jobs.slice(jobs.indexOf(job)).map((j) => ids[j.key]);
    try { o.client.cancel(pending); } catch { /* best effort */ }
    return { ok: false, jobIds: ids, failure };
  }
}

/** Write the token the jobs check to prove they see this machine's runs/<name>/. */
export function writeSharedMarker(runDir: string): string {
  const token = randomBytes(12).toString('hex');
  claimRunFolder(runDir);
  fs.writeFileSync(path.join(runDir, SHARED_MARKER), token);
  return token;
}

export interface SlurmPipelineOptions {
  config?: string;
  from?: string;
  to?: string;
  runName?: string;
  /** shards per data-parallel stage (1: one job per stage) */
  shards?: number;
  partition?: string;
  time?: string;
  gpus?: string;
  /** render the notebooks in a last job (default true) */
  notebooks?: boolean;
  notebooksDir?: string;
  client?: SlurmClient;
  pollSeconds?: number;
  log?: (line: string) => void;
}

/**
 * `npm run pipeline -- --scheduler slurm`: submit the selected stages as SLURM jobs (job arrays of
 * shards + merges for data-parallel stages, afterok dependencies), wait with progress, and leave the same
 * runs/<name>/ as a local run, with per-job and per-shard logs in runs/<name>/logs/.
 */
export async function runPipelineSlurm(opts: SlurmPipelineOptions = {}): Promise<SlurmRunResult & { runDir: string; logDir: string }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const cfgFile = configPath(opts.config);
  const config = loadConfig(cfgFile);
  const runName = opts.runName ?? config.name;
  validatePathName(runName, 'run name');
  checkSchedulerArgs(opts);
  const shards = opts.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1) throw new ArgumentError(`--shards must be a whole number >= 1, got ${opts.shards}`);
  if (!fs.existsSync(path.join(SAELAB_ROOT, 'dist', 'lib', 'cli', 'main.js'))) throw new Error('saelab is not built (dist/ is missing): run npm run build first; the jobs run the compiled CLI');
  const runDir = path.join(SAELAB_ROOT, 'runs', runName);
  const logDir = path.join(runDir, 'logs');
  const allNotebooks = listNotebooks(opts.notebooksDir).map((n) => n.name);
  const { jobs: stages, notebookOnly } = selectSlurmStages(STAGES.map((s) => s.name), allNotebooks, opts.from, opts.to);
  const notebooks = (opts.notebooks ?? true) && selectStages(listNotebooks(opts.notebooksDir), opts.from, opts.to).length > 0;
  if (!stages.length && !notebooks) throw new Error(`no stages selected (from ${opts.from ?? 'start'} to ${opts.to ?? 'end'})`);

  const jobs = planSlurmJobs(stages, { shards, config: cfgFile, runName, from: opts.from, to: opts.to, notebooks });
  const client = opts.client ?? commandLineSlurm();
  // two submissions writing the same shards would race: refuse while an earlier one is still queued
  const stale = staleJobIds(client.queuedNames?.() ?? [], runName);
  if (stale.length) {
    throw new Error(`jobs of an earlier submission for run '${runName}' are still queued or running (SLURM job ids ${stale.join(', ')}): ` +
      `wait for them (squeue --me) or cancel them (scancel ${stale.join(' ')}), then rerun; finished shards and stages are reused`);
  }
  const token = writeSharedMarker(runDir);
  const o: SlurmRunOptions = { runName, runDir, logDir, token, partition: opts.partition, time: opts.time, gpus: opts.gpus, client, pollSeconds: opts.pollSeconds, log };
  log(`saelab pipeline on SLURM: ${jobs.length} jobs (${shards} shard(s) per data-parallel stage), config ${path.relative(SAELAB_ROOT, cfgFile)}, into ${path.relative(SAELAB_ROOT, runDir)}/, logs in ${path.relative(SAELAB_ROOT, logDir)}/`);
  if (notebookOnly.length) {
    log(notebooks
      ? `  notebooks without a headless stage function run inside the notebooks job: ${notebookOnly.join(', ')}`
      : `  not run (no headless stage function, and --no-notebooks): ${notebookOnly.join(', ')}`);
  }
  const ids = submitJobs(jobs, o);
  log(`  submitted: ${jobs.map((j) => `${j.key}=${ids[j.key]}`).join(' ')}`);
  const r = await waitForJobs(jobs, ids, o);
  return { ...r, runDir, logDir };
}
