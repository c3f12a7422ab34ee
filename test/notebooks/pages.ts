/**
 * Shared by the tests that execute the demo pipeline's notebooks: open every page they produced (the
 * HTML exports and the standalone pages of their stage folders) in headless Chromium, fail on a blank plot,
 * an error output or a MIME bundle printed as text, and keep the screenshots for review in
 * build/page-check/ (the run folders themselves are removed by the tests).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { checkRunPages, describeReports, PageReport } from '../../lib/browser/pageCheck';
import { SAELAB_ROOT } from '../../lib/version';

export const PAGE_CHECK_DIR = path.join(SAELAB_ROOT, 'build', 'page-check');

/** Check the pages of `stages` in `runDir`; returns the reports (each page's drawn areas and problems). */
export async function assertPagesLookRight(runDir: string, stages: string[]): Promise<PageReport[]> {
  const reports = await checkRunPages(runDir, { names: stages });
  fs.mkdirSync(PAGE_CHECK_DIR, { recursive: true });
  for (const r of reports) {
    if (!r.screenshot) continue;
    const keep = path.join(PAGE_CHECK_DIR, path.relative(runDir, r.screenshot).split(path.sep).join('__'));
    fs.copyFileSync(r.screenshot, keep);
  }
  const names = reports.map((r) => path.relative(runDir, r.file));
  for (const s of stages) assert.ok(names.some((n) => n.startsWith(`${s}.html`)), `${s}.html was checked (pages: ${names.join(', ')})`);
  const bad = reports.filter((r) => r.problems.length);
  assert.strictEqual(bad.length, 0, `pages with problems (screenshots in ${PAGE_CHECK_DIR}):\n${describeReports(bad, runDir)}`);
  return reports;
}
