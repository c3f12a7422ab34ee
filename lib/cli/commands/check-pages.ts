import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from '../types';
import { parseOptions } from '../args';
import { Chromium } from '../../browser/chromium';
import { checkPage, checkRunPages, describeReports, PageReport } from '../../browser/pageCheck';

const usage = `usage: saelab check-pages [--run runs/demo] [--stage 05_features_transfer ...] [--page FILE ...] [--no-screenshots]

Opens what a person would open in headless Chromium (Debian's chromium; $SAELAB_CHROMIUM to choose
another): every executed notebook's HTML export in a run folder and the standalone pages of its stage
folders (feature browsers, the cross-layer graph, circuit SVGs), or the given --page files. Fails (exit 1)
naming the page and the output when a plot is drawn blank, an image does not load, a cell shows an error,
or a MIME bundle or a long dump is printed as text. Writes a screenshot of each whole page beside it
(<page>.png) for review.`;

export const command: CliCommand = {
  name: 'check-pages',
  summary: 'open a run\'s HTML pages in headless Chromium: no blank plots, errors or text dumps; screenshots',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parseOptions(argv, {
      run: { type: 'string' },
      stage: { type: 'string', multiple: true },
      page: { type: 'string', multiple: true },
      'no-screenshots': { type: 'boolean' },
    }, usage);
    const screenshot = !o['no-screenshots'];
    const pages = (o.page as string[] | undefined) ?? [];
    let reports: PageReport[] = [];
    if (pages.length) {
      const browser = await Chromium.launch();
      try {
        for (const p of pages) reports.push(await checkPage(browser, p, { screenshot }));
      } finally {
        await browser.close();
      }
    }
    if (o.run || !pages.length) {
      const run = path.resolve((o.run as string | undefined) ?? path.join('runs', 'demo'));
      if (!fs.existsSync(run)) throw new Error(`run folder ${run} does not exist (run the pipeline first, or pass --run)`);
      reports = reports.concat(await checkRunPages(run, { names: o.stage as string[] | undefined, screenshot }));
    }
    if (!reports.length) throw new Error('no pages found to check');
    console.log(describeReports(reports));
    const bad = reports.filter((r) => r.problems.length).length;
    console.log(`${reports.length - bad} pages ok, ${bad} with problems`);
    return bad ? 1 : 0;
  },
};
