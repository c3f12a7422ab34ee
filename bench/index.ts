import * as fs from 'fs';
import * as path from 'path';
import { initBackend, describeBackend } from '../lib/backend';

/**
 * `npm run bench [-- name ...]`: runs every bench/<name>.bench.ts (compiled), each printing its figures.
 * Each bench module exports `run(): Promise<void>`.
 */
async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const info = await initBackend();
  console.log(describeBackend(info));
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.bench.js')).sort();
  for (const f of files) {
    const name = f.replace(/\.bench\.js$/, '');
    if (filters.length && !filters.some((x) => name.includes(x))) continue;
    console.log(`\n== ${name}`);
    const mod = require(path.join(__dirname, f)) as { run: () => Promise<void> };
    await mod.run();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
