import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { makeStandins } from '../lib/standins';
import { SAELAB_ROOT } from '../lib/version';

/**
 * `npm run bench -- scale`: the seed-001 presets on stand-ins, stage by stage (01-05), each stage a
 * separate `saelab stage` process as a SLURM job runs it: wall time, tokens/s and peak RSS at n and 2n
 * batches per stage (the peak should not grow with the tokens), and the time extrapolated to the
 * preset's own batch counts (a straight line through the two runs: load time + time per batch) on
 * this machine and on N SLURM nodes (the data-parallel stages split their batches; 03 does not).
 *
 *   SAELAB_SCALE_HUB=DIR          a hub cache filled by `saelab make-standins` (published shapes); without
 *                                 it, tiny stand-ins are made in a temp folder (checks the machinery only)
 *   SAELAB_SCALE_PRESETS=a,b      presets (default gpt2-portuguese,gemma-2b-python,mistral-7b-metamath)
 *   SAELAB_SCALE_BATCHES=n        batches per stage of the first run (default 1; the second run has 2n)
 *   SAELAB_SCALE_BATCH_SIZE=b     rows per batch (default: the preset's)
 *   SAELAB_SCALE_NODES=N          SLURM nodes of the extrapolation (default 4)
 */

const STAGES = ['01', '02', '03', '04', '05'] as const;
/** the config section whose nBatches drives each stage, and how many models run over its tokens */
const DRIVER: Record<(typeof STAGES)[number], { section: 'activations' | 'eval' | 'transfer'; models: number; parallel: boolean }> = {
  '01': { section: 'activations', models: 2, parallel: true },
  '02': { section: 'activations', models: 0, parallel: true },
  '03': { section: 'activations', models: 0, parallel: false },
  '04': { section: 'eval', models: 2, parallel: true },
  '05': { section: 'transfer', models: 2, parallel: true },
};

interface Measured { seconds: number; peakBytes: number; ok: boolean; tail: string }

/** Peak resident memory of a process so far (VmHWM), or 0 once it is gone. */
function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s*kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Run one headless stage as a child process, sampling its peak RSS. */
function runStage(stage: string, config: string, runDir: string, env: NodeJS.ProcessEnv): Promise<Measured> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [path.join(SAELAB_ROOT, 'bin', 'saelab.js'), 'stage', stage, '--config', config], {
      env: { ...process.env, ...env, SAELAB_RUN_DIR: runDir }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let peak = 0;
    let tail = '';
    child.stderr.on('data', (d: Buffer) => { tail = (tail + d.toString()).slice(-2000); });
    const timer = setInterval(() => { peak = Math.max(peak, vmHwm(child.pid as number)); }, 200);
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, peakBytes: peak, ok: code === 0, tail });
    });
  });
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const dur = (s: number) => (s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);

type PresetConfig = { name: string; contextSize: number } & Record<'activations' | 'eval' | 'transfer', { nBatches: number; batchSize: number }>;

export async function run(): Promise<void> {
  const presets = (process.env.SAELAB_SCALE_PRESETS ?? 'gpt2-portuguese,gemma-2b-python,mistral-7b-metamath').split(',').map((s) => s.trim()).filter(Boolean);
  const n = Number(process.env.SAELAB_SCALE_BATCHES ?? 1);
  const rowsOverride = process.env.SAELAB_SCALE_BATCH_SIZE ? Number(process.env.SAELAB_SCALE_BATCH_SIZE) : null;
  const nodes = Number(process.env.SAELAB_SCALE_NODES ?? 4);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`SAELAB_SCALE_BATCHES must be a positive integer, got '${process.env.SAELAB_SCALE_BATCHES}'`);
  if (rowsOverride !== null && !(Number.isInteger(rowsOverride) && rowsOverride > 0)) throw new Error(`SAELAB_SCALE_BATCH_SIZE must be a positive integer, got '${process.env.SAELAB_SCALE_BATCH_SIZE}'`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-bench-scale-'));
  let hub = process.env.SAELAB_SCALE_HUB;
  try {
    if (!hub) {
      hub = path.join(work, 'hub');
      console.log(`SAELAB_SCALE_HUB not set: tiny stand-ins (width 64) in ${hub}; this checks the machinery, not the published sizes`);
      for (const p of presets) await makeStandins({ like: p, cacheRoot: hub, scale: 'tiny', seed: 0, datasetWords: 20000, log: () => undefined });
    }
    const env = { HF_HUB_CACHE: path.resolve(hub), HF_HUB_OFFLINE: '1' };
    console.log(`load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs; each stage a separate process; peak = VmHWM sampled every 0.2 s`);
    for (const preset of presets) {
      const base = JSON.parse(fs.readFileSync(path.join(SAELAB_ROOT, 'configs', `${preset}.json`), 'utf8')) as PresetConfig;
      const runs: Array<{ batches: number; m: Record<string, Measured> }> = [];
      for (const batches of [n, 2 * n]) {
        const cfg = structuredClone(base);
        cfg.name = `bench-scale-${preset}-${batches}`;
        for (const s of ['activations', 'eval', 'transfer'] as const) {
          cfg[s].nBatches = batches;
          if (rowsOverride) cfg[s].batchSize = rowsOverride;
        }
        const file = path.join(work, `${cfg.name}.json`);
        fs.writeFileSync(file, JSON.stringify(cfg, null, 1));
        const runDir = path.join(work, 'runs', cfg.name);
        const m: Record<string, Measured> = {};
        for (const s of STAGES) {
          m[s] = await runStage(s, file, runDir, env);
          const tokens = batches * cfg[DRIVER[s].section].batchSize * cfg.contextSize;
          console.log(`${preset} ${s} x${batches} batches (${tokens} tokens${DRIVER[s].models ? ` x ${DRIVER[s].models} models` : ''}): ${m[s].ok ? '' : 'FAILED '}${m[s].seconds.toFixed(1)} s, ` +
            `${(tokens * Math.max(1, DRIVER[s].models) / m[s].seconds).toFixed(0)} tokens/s, peak RSS ${gib(m[s].peakBytes)}`);
          if (!m[s].ok) {
            console.log(m[s].tail.split('\n').slice(-6).join('\n'));
            break;
          }
        }
        runs.push({ batches, m });
        fs.rmSync(runDir, { recursive: true, force: true });
        if (STAGES.some((s) => !m[s]?.ok)) break;
      }
      if (runs.length < 2) continue;
      const [a, b] = runs;
      let total = 0;
      let totalN = 0;
      const rows: string[] = [];
      for (const s of STAGES) {
        const perBatch = Math.max(0, (b.m[s].seconds - a.m[s].seconds) / (b.batches - a.batches));
        const fixed = Math.max(0, a.m[s].seconds - perBatch * a.batches);
        const full = base[DRIVER[s].section].nBatches;
        const t = fixed + perBatch * full;
        const tn = fixed + perBatch * (DRIVER[s].parallel ? Math.ceil(full / nodes) : full);
        total += t;
        totalN += tn;
        rows.push(`  ${s}: peak ${gib(a.m[s].peakBytes)} at ${a.batches} batch(es), ${gib(b.m[s].peakBytes)} at ${b.batches}; ${fixed.toFixed(0)} s + ${perBatch.toFixed(1)} s/batch -> ${full} batches ${dur(t)} here, ${dur(tn)} on ${nodes} nodes`);
      }
      console.log(`${preset}: the preset's sizes extrapolated (rows per batch ${rowsOverride ?? 'as the preset'}):\n${rows.join('\n')}\n  stages 01-05: ${dur(total)} here, ${dur(totalN)} on ${nodes} SLURM nodes`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
