import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../lib/cli/main';

/** Run `saelab <argv>` through the CLI entry point; the exit code and what it printed to stderr. */
export async function runCli(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const [e, l, w] = [console.error, console.log, process.stderr.write];
  console.error = (...a: unknown[]) => { err.push(a.map(String).join(' ')); };
  console.log = (...a: unknown[]) => { out.push(a.map(String).join(' ')); };
  try {
    const code = await main(argv);
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    console.error = e;
    console.log = l;
    process.stderr.write = w;
  }
}

/** A folder with a user's file in it (what saelab must never delete or overwrite). */
export function userFolder(parent: string, name = 'mine'): { dir: string; file: string } {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'precious.txt');
  fs.writeFileSync(file, 'do not delete');
  return { dir, file };
}

/** Every path under `dir` whose name looks like a saelab temporary (`*.tmp-PID-*`). */
export function tempsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (/\.tmp-\d+-/.test(e.name)) out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}
