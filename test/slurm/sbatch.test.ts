import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../helpers';
import { planSlurmJobs, SchedulerUnavailable, sbatchEnv, selectSlurmStages, staleJobIds, slurmJobName, runPipelineSlurm, sbatchScript, parseSqueue, submitJobs, waitForJobs, jobStatusPath, SlurmClient, SlurmJob, QueueEntry, SlurmRunOptions } from '../../lib/pipeline/slurm';

const STAGES = ['01_compute_activations', '02_compute_similarities', '03_find_outlier_norms', '04_sae_eval', '05_features_transfer'];
const PLAN = { shards: 3, config: '/repo/configs/demo.json', runName: 'demo', notebooks: true, node: '/usr/bin/node' };

test('plan: check, shard arrays + merges for data-parallel stages, one job for outliers, notebooks last; each waits for the previous', () => {
  const jobs = planSlurmJobs(STAGES, PLAN);
  assert.deepStrictEqual(jobs.map((j) => j.key), [
    'check', '01_compute_activations.shards', '01_compute_activations.merge', '02_compute_similarities.shards', '02_compute_similarities.merge',
    '03_find_outlier_norms', '04_sae_eval.shards', '04_sae_eval.merge', '05_features_transfer.shards', '05_features_transfer.merge', 'notebooks',
  ]);
  for (let i = 1; i < jobs.length; i++) assert.deepStrictEqual(jobs[i].after, [jobs[i - 1].key]);
  assert.deepStrictEqual(jobs.filter((j) => j.array).map((j) => j.array), [3, 3, 3, 3]);
  const shard = jobs[1];
  assert.deepStrictEqual(shard.argv.slice(2), ['stage', '01_compute_activations', '--config', '/repo/configs/demo.json', '--run-name', 'demo', '--shard', '$TASK/3']);
  assert.deepStrictEqual(jobs[2].argv.slice(2), ['merge', '01_compute_activations', '--config', '/repo/configs/demo.json', '--run-name', 'demo', '--shards', '3']);
});

test('plan with one shard runs each stage as a single job; unknown stages are refused', () => {
  const jobs = planSlurmJobs(STAGES.slice(0, 2), { ...PLAN, shards: 1, notebooks: false });
  assert.deepStrictEqual(jobs.map((j) => j.key), ['check', '01_compute_activations', '02_compute_similarities']);
  assert.ok(jobs.every((j) => !j.array));
  assert.throws(() => planSlurmJobs(['07_nothing'], PLAN), /stage 07_nothing has no headless function/);
});

const SB = { runName: 'demo', runDir: '/shared/runs/demo', logDir: '/shared/runs/demo/logs', token: 'tok123', partition: 'gpu', time: '01:00:00', gpus: '1' };

test('sbatch script of a shard array: array range, afterok dependency, partition, time, gpus, per-shard log, shard index from the task id', () => {
  const jobs = planSlurmJobs(STAGES, PLAN);
  const s = sbatchScript(jobs[1], SB, ['41']);
  assert.match(s, /^#!\/bin\/bash\n/);
  assert.match(s, /\n#SBATCH --array=0-2\n/);
  assert.match(s, /\n#SBATCH --dependency=afterok:41\n/);
  assert.match(s, /\n#SBATCH --kill-on-invalid-dep=yes\n/);
  assert.match(s, /\n#SBATCH --partition="gpu"\n/);
  assert.match(s, /\n#SBATCH --time="01:00:00"\n/);
  assert.match(s, /\n#SBATCH --gpus="1"\n/);
  assert.match(s, /\n#SBATCH --output="\/shared\/runs\/demo\/logs\/01_compute_activations\.shards-%a\.log"\n/);
  assert.match(s, /TASK="\$\{SLURM_ARRAY_TASK_ID:-0\}"/);
  assert.match(s, / --shard "\$TASK\/3"\n/);
  assert.match(s, /cat \/shared\/runs\/demo\/\.saelab-shared.*!= tok123/);
  assert.match(s, /\/shared\/runs\/demo\/logs\/status\/01_compute_activations\.shards\.\$TASK\.exit/);
});

test('sbatch script of a merge: no array, no gpus, dependency on the array job; the check job has no dependency', () => {
  const jobs = planSlurmJobs(STAGES, PLAN);
  const merge = sbatchScript(jobs[2], SB, ['42']);
  assert.doesNotMatch(merge, /--array/);
  assert.doesNotMatch(merge, /--gpus/);
  assert.match(merge, /#SBATCH --dependency=afterok:42\n/);
  assert.match(merge, /#SBATCH --output="\/shared\/runs\/demo\/logs\/01_compute_activations\.merge\.log"\n/);
  const check = sbatchScript(jobs[0], SB, []);
  assert.doesNotMatch(check, /--dependency/);
});

test('squeue parsing: array tasks, a pending task range and plain jobs', () => {
  const q = parseSqueue('12_0|RUNNING|vm|None\n12_[1-2]|PENDING||Resources\n13|PENDING||Dependency\n');
  assert.deepStrictEqual(q.map((e) => [e.jobId, e.task, e.state]), [['12', 0, 'RUNNING'], ['12', 1, 'PENDING'], ['12', 2, 'PENDING'], ['13', undefined, 'PENDING']]);
  assert.strictEqual(q[3].reason, 'Dependency');
});

/** A fake scheduler: jobs finish in submission order, one task per poll, with chosen exit codes. */
function fakeCluster(logDir: string, jobs: SlurmJob[], exitCode: (key: string, task: number) => number | 'vanish'): SlurmClient & { cancelled: string[]; submitted: string[] } {
  const ids = new Map<string, SlurmJob>();
  const pending: Array<{ job: SlurmJob; task: number }> = [];
  const c = {
    cancelled: [] as string[],
    submitted: [] as string[],
    submit(file: string) {
      const key = path.basename(file, '.sbatch');
      const job = jobs.find((j) => j.key === key)!;
      const id = String(100 + ids.size);
      ids.set(id, job);
      c.submitted.push(fs.readFileSync(file, 'utf8'));
      for (let t = 0; t < (job.array ?? 1); t++) pending.push({ job, task: t });
      return id;
    },
    queue(list: string[]): QueueEntry[] {
      const next = pending.shift();
      if (next) {
        const code = exitCode(next.job.key, next.task);
        if (code !== 'vanish') fs.writeFileSync(jobStatusPath(logDir, next.job, next.task), `${code}\n`);
      }
      return pending.map((p) => ({ jobId: [...ids].find(([, j]) => j === p.job)![0], task: p.job.array ? p.task : undefined, state: 'PENDING', node: '', reason: 'Dependency' })).filter((e) => list.includes(e.jobId));
    },
    cancel(list: string[]) { c.cancelled.push(...list); },
  };
  return c;
}

function runOpts(dir: string, client: SlurmClient, lines: string[]): SlurmRunOptions {
  return { runName: 'demo', runDir: dir, logDir: path.join(dir, 'logs'), token: 't', client, pollSeconds: 0, log: (l) => lines.push(l), sleep: async () => {}, graceMisses: 1 };
}

test('waiting: all jobs succeed; dependencies in the submitted scripts are the ids of the previous jobs', async () => {
  const dir = tmpDir();
  const jobs = planSlurmJobs(STAGES.slice(0, 2), { ...PLAN, notebooks: false });
  const client = fakeCluster(path.join(dir, 'logs'), jobs, () => 0);
  const lines: string[] = [];
  const o = runOpts(dir, client, lines);
  const ids = submitJobs(jobs, o);
  assert.deepStrictEqual(Object.values(ids), ['100', '101', '102', '103', '104']);
  assert.match(client.submitted[1], /afterok:100\n/);
  assert.match(client.submitted[2], /afterok:101\n/);
  const r = await waitForJobs(jobs, ids, o);
  assert.strictEqual(r.ok, true);
  assert.ok(lines.some((l) => /01_compute_activations shards 1\/3/.test(l)), lines.join('\n'));
  assert.match(lines[lines.length - 1], /all 5 SLURM jobs done/);
});

test('waiting: a failing shard fails the run naming stage, shard and log, and cancels the rest', async () => {
  const dir = tmpDir();
  const jobs = planSlurmJobs(STAGES.slice(0, 2), { ...PLAN, notebooks: false });
  const client = fakeCluster(path.join(dir, 'logs'), jobs, (k, t) => (k === '02_compute_similarities.shards' && t === 1 ? 1 : 0));
  const o = runOpts(dir, client, []);
  const r = await waitForJobs(jobs, submitJobs(jobs, o), o);
  assert.strictEqual(r.ok, false);
  assert.strictEqual(r.failure!.stage, '02_compute_similarities');
  assert.strictEqual(r.failure!.shard, '1/3');
  assert.strictEqual(r.failure!.log, path.join(dir, 'logs', '02_compute_similarities.shards-1.log'));
  assert.match(r.failure!.message, /stage 02_compute_similarities shard 1\/3 failed .*exit code 1; log: .*02_compute_similarities\.shards-1\.log/);
  assert.deepStrictEqual(client.cancelled, ['103', '104']);
});

test('waiting: a task that leaves the queue without an exit status (killed) fails; a failed check says runs/ is not shared', async () => {
  const dir = tmpDir();
  const jobs = planSlurmJobs(STAGES.slice(0, 1), { ...PLAN, notebooks: false });
  const o = runOpts(dir, fakeCluster(path.join(dir, 'logs'), jobs, (k, t) => (k.endsWith('.shards') && t === 2 ? 'vanish' : 0)), []);
  const r = await waitForJobs(jobs, submitJobs(jobs, o), o);
  assert.strictEqual(r.failure!.shard, '2/3');
  assert.match(r.failure!.message, /left the queue without recording an exit status/);
  const dir2 = tmpDir();
  const o2 = runOpts(dir2, fakeCluster(path.join(dir2, 'logs'), jobs, (k) => (k === 'check' ? 3 : 0)), []);
  const r2 = await waitForJobs(jobs, submitJobs(jobs, o2), o2);
  assert.strictEqual(r2.failure!.stage, 'check');
  assert.match(r2.failure!.message, /runs\/ must be on a filesystem shared by this machine and the nodes/);
});

test('plan: stages given out of order (or twice) run in stage order; non-shardable stages between shardable ones are single jobs', () => {
  const jobs = planSlurmJobs(['04_sae_eval', '03_find_outlier_norms', '01_compute_activations', '03_find_outlier_norms'], { ...PLAN, notebooks: false });
  assert.deepStrictEqual(jobs.map((j) => [j.key, j.kind, j.array ?? 1]), [
    ['check', 'check', 1], ['01_compute_activations.shards', 'shards', 3], ['01_compute_activations.merge', 'merge', 1],
    ['03_find_outlier_norms', 'stage', 1], ['04_sae_eval.shards', 'shards', 3], ['04_sae_eval.merge', 'merge', 1],
  ]);
  assert.deepStrictEqual(jobs[3].argv.slice(2), ['stage', '03_find_outlier_norms', '--config', '/repo/configs/demo.json', '--run-name', 'demo']);
});

test('stage selection: registered stages in the range run as jobs; notebooks without a headless function only in the notebooks job', () => {
  const headless = ['05_features_transfer', '01_compute_activations', '03_find_outlier_norms', '12_sweep'];
  const notebooks = ['00_environment', '01_compute_activations', '03_find_outlier_norms', '05_features_transfer', '06_interpbench_case3', '12_sweep'];
  assert.deepStrictEqual(selectSlurmStages(headless, notebooks), { jobs: ['01_compute_activations', '03_find_outlier_norms', '05_features_transfer', '12_sweep'], notebookOnly: ['00_environment', '06_interpbench_case3'] });
  assert.deepStrictEqual(selectSlurmStages(headless, notebooks, '03', '06'), { jobs: ['03_find_outlier_norms', '05_features_transfer'], notebookOnly: ['06_interpbench_case3'] });
  assert.deepStrictEqual(selectSlurmStages(headless, notebooks, '07'), { jobs: ['12_sweep'], notebookOnly: [] });
  // a notebook is matched to its stage by number (its file name may differ from the stage folder's)
  assert.deepStrictEqual(selectSlurmStages(['07_crosslayer_stats'], ['07_crosslayer', '08_circuits'], '07'), { jobs: ['07_crosslayer_stats'], notebookOnly: ['08_circuits'] });
});

test('an earlier submission of the same run still in the queue is found by job name (other runs are not)', () => {
  const q = [
    { jobId: '7', name: 'saelab-demo-check' }, { jobId: '8', name: 'saelab-demo-01_compute_activations.shards' }, { jobId: '8', name: 'saelab-demo-01_compute_activations.shards' },
    { jobId: '9', name: 'saelab-demo-03_find_outlier_norms' }, { jobId: '10', name: 'saelab-demo-notebooks' },
    { jobId: '11', name: 'saelab-demo-b-check' }, { jobId: '12', name: 'saelab-demox-check' }, { jobId: '13', name: 'train-demo' },
  ];
  assert.deepStrictEqual(staleJobIds(q, 'demo'), ['7', '8', '9', '10']);
  assert.deepStrictEqual(staleJobIds(q, 'demo-b'), ['11']);
  assert.deepStrictEqual(staleJobIds(q, 'other'), []);
  const jobs = planSlurmJobs(STAGES, PLAN);
  assert.ok(jobs.every((j) => staleJobIds([{ jobId: '1', name: slurmJobName('demo', j) }], 'demo').length === 1), 'every planned job name is recognised');
});

test('runPipelineSlurm refuses to submit while an earlier submission of the run is queued, naming the job ids', async () => {
  const client: SlurmClient = { submit: () => assert.fail('nothing may be submitted'), queue: () => [], cancel: () => {}, queuedNames: () => [{ jobId: '41', name: 'saelab-stale-run-02_compute_similarities.merge' }] };
  await assert.rejects(runPipelineSlurm({ runName: 'stale-run', shards: 3, notebooks: false, client, log: () => {} }), /earlier submission for run 'stale-run' are still queued or running \(SLURM job ids 41\).*scancel 41/);
});

test('sbatch environment: site settings pass through; variables that would override the script\'s own directives are dropped', () => {
  const jobs = planSlurmJobs(STAGES, PLAN);
  const env = { PATH: '/bin', SBATCH_ACCOUNT: 'proj', SBATCH_QOS: 'normal', SBATCH_JOB_NAME: 'x', SBATCH_OUTPUT: '/tmp/x.log', SBATCH_ERROR: '/tmp/e.log', SBATCH_ARRAY_INX: '0-9', SBATCH_PARTITION: 'cpu', SBATCH_TIMELIMIT: '5', SBATCH_GPUS: '2' };
  const shards = sbatchEnv(sbatchScript(jobs[1], SB, ['1']), env);
  assert.deepStrictEqual(Object.keys(shards).sort(), ['PATH', 'SBATCH_ACCOUNT', 'SBATCH_QOS']);
  // without --partition/--time/--gpus the site's defaults from the environment stay; a merge asks for no gpus, so SBATCH_GPUS stays too
  const plain = sbatchEnv(sbatchScript(jobs[2], { ...SB, partition: undefined, time: undefined, gpus: undefined }, ['1']), env);
  assert.deepStrictEqual(Object.keys(plain).sort(), ['PATH', 'SBATCH_ACCOUNT', 'SBATCH_GPUS', 'SBATCH_PARTITION', 'SBATCH_QOS', 'SBATCH_TIMELIMIT']);
});

test('waiting: polls the scheduler does not answer are retried, not taken for vanished jobs; too many in a row fail clearly', async () => {
  const dir = tmpDir();
  const jobs = planSlurmJobs(STAGES.slice(0, 1), { ...PLAN, notebooks: false });
  const inner = fakeCluster(path.join(dir, 'logs'), jobs, () => 0);
  let polls = 0;
  const flaky: SlurmClient = { ...inner, queue: (l) => { polls++; if (polls <= 5) throw new SchedulerUnavailable('squeue failed (exit 1): Socket timed out'); return inner.queue(l); } };
  const lines: string[] = [];
  const o = { ...runOpts(dir, flaky, lines), graceMisses: 0 };
  const r = await waitForJobs(jobs, submitJobs(jobs, o), o);
  assert.strictEqual(r.ok, true, JSON.stringify(r.failure));
  assert.strictEqual(lines.filter((l) => /SLURM does not answer/.test(l)).length, 1);
  const dir2 = tmpDir();
  const down: SlurmClient = { ...fakeCluster(path.join(dir2, 'logs'), jobs, () => 0), queue: () => { throw new SchedulerUnavailable('squeue failed (exit 1): Unable to contact slurm controller'); } };
  const o2 = { ...runOpts(dir2, down, []), maxUnanswered: 3 };
  await assert.rejects(waitForJobs(jobs, submitJobs(jobs, o2), o2), /SLURM did not answer 4 queue queries in a row \(squeue failed .*Unable to contact slurm controller\).*rerun the same command later/);
});
