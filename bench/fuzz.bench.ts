/**
 * The fuzz test at scale: SAELAB_FUZZ_N mutations (default 3000) per format, other seeds than the suite's.
 * Prints, per format, how many mutated files loaded or were refused with a saelab error, the slowest case,
 * the resident-memory growth, and any mishandled case (a non-saelab error, a message not naming the file).
 */
import * as os from 'os';
import * as fs from 'fs';
import * as path from 'path';
import { FuzzStats, fuzzExperimentConfigs, fuzzPickle, fuzzSaeCfg, fuzzSafetensors, fuzzTorch, fuzzTrainConfigs } from '../test/safety/fuzzHarness';

const ROOT = path.resolve(__dirname, '..', '..');

export async function run(): Promise<void> {
  const n = Number(process.env.SAELAB_FUZZ_N ?? 3000);
  const seed = Number(process.env.SAELAB_FUZZ_SEED ?? 7);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-fuzz-bench-'));
  const torch = path.join(ROOT, 'test', 'fixtures', 'torch');
  try {
    const runs: Array<[string, () => Promise<FuzzStats>]> = [
      ['safetensors', () => fuzzSafetensors(n, seed + 1, dir)],
      ['torch zip', () => fuzzTorch(n, seed + 2, torch)],
      ['pickle', () => fuzzPickle(n, seed + 3, torch)],
      ['SAE cfg.json', () => fuzzSaeCfg(n, seed + 4, path.join(ROOT, 'test', 'fixtures', 'sae'), dir)],
      ['experiment config', () => fuzzExperimentConfigs(n, seed + 5, path.join(ROOT, 'configs'), dir)],
      ['train-sae config', () => fuzzTrainConfigs(n, seed + 6, dir)],
    ];
    console.log(`fuzz: ${n} mutations per format, seed ${seed}`);
    console.log('format              cases   loaded  refused  mishandled  slowest ms  rss growth MiB  seconds');
    for (const [name, f] of runs) {
      const t0 = Date.now();
      const s = await f();
      const secs = (Date.now() - t0) / 1000;
      console.log(`${name.padEnd(18)} ${String(s.cases).padStart(6)} ${String(s.loaded).padStart(8)} ${String(s.rejected).padStart(8)} ${String(s.failures.length).padStart(11)} ${String(s.slowestMs).padStart(11)} ${s.rssGrowthMiB.toFixed(0).padStart(15)} ${secs.toFixed(1).padStart(8)}`);
      for (const x of s.failures.slice(0, 5)) console.log(`  ${x}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
