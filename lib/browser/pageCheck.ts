/**
 * What a person sees: open a page (an nbconvert HTML export, a standalone browser page, an SVG) in
 * headless Chromium, look at every plot area and output, and say what is wrong: plots drawn blank,
 * error outputs, MIME bundles or other long dumps printed as text. A screenshot of the whole page is
 * written beside it for review.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { Chromium } from './chromium';

/** One image or SVG drawing on the page, as the browser drew it. */
export interface DrawnArea {
  kind: 'img' | 'svg' | 'canvas';
  /** where it is: the output's cell number in an nbconvert page, else the element's id or position */
  where: string;
  width: number;
  height: number;
  /** img/canvas: share of pixels that are not (near) white; svg: share of its box covered by drawn elements' boxes, capped at 1 */
  ink: number;
  /** svg: drawn elements (path, rect, line, circle, text, ...) with a non-empty box */
  elements: number;
  /** img: the image failed to load or decode */
  broken?: boolean;
}

/** What the in-page inspection found. */
export interface PageInspection {
  title: string;
  /** an nbconvert export (has Jupyter output areas) */
  notebook: boolean;
  areas: DrawnArea[];
  /** text outputs of an nbconvert page: where, and their text (first 400 characters) and length */
  texts: Array<{ where: string; mime: string; length: number; head: string }>;
  /** stderr / error outputs of an nbconvert page */
  errors: Array<{ where: string; head: string }>;
  bodyTextLength: number;
}

export interface PageReport extends PageInspection {
  file: string;
  screenshot?: string;
  /** exceptions thrown by the page's own scripts */
  scriptErrors: string[];
  /** what is wrong, one line each; empty when the page is fine */
  problems: string[];
}

/** Runs in the page: measures every drawn area and collects the outputs' text. */
const INSPECT = String.raw`(async () => {
  const imgs = Array.from(document.querySelectorAll('img'));
  await Promise.all(imgs.map((i) => (i.complete ? Promise.resolve() : new Promise((r) => { i.onload = i.onerror = r; }))));
  await Promise.all(imgs.map((i) => (i.decode ? i.decode().catch(() => {}) : null)));
  // nbconvert pages typeset markdown with MathJax: let it finish (its status box would be in the screenshot)
  if (window.MathJax && window.MathJax.Hub && window.MathJax.Hub.Queue) {
    await Promise.race([new Promise((r) => window.MathJax.Hub.Queue(r)), new Promise((r) => setTimeout(r, 10000))]);
    const box = document.getElementById('MathJax_Message');
    if (box) await new Promise((r) => { const t0 = Date.now(); const poll = () => (box.style.display === 'none' || Date.now() - t0 > 5000 ? r() : setTimeout(poll, 50)); poll(); });
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const notebook = !!document.querySelector('.jp-OutputArea-output, .output_area');
  const cells = Array.from(document.querySelectorAll('.jp-Cell, .cell'));
  const where = (el, i) => {
    const cell = el.closest('.jp-Cell, .cell');
    if (cell) return 'cell ' + (cells.indexOf(cell) + 1);
    return el.id ? '#' + el.id : el.tagName.toLowerCase() + ' ' + (i + 1);
  };
  const inkOf = (source, w, h) => {
    const scale = Math.min(1, 1200 / Math.max(w, 1));
    const cw = Math.max(1, Math.round(w * scale)), ch = Math.max(1, Math.round(h * scale));
    const c = document.createElementNS('http://www.w3.org/1999/xhtml', 'canvas'); c.width = cw; c.height = ch;
    const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, cw, ch);
    g.drawImage(source, 0, 0, cw, ch);
    let data;
    try { data = g.getImageData(0, 0, cw, ch).data; } catch (e) { return -1; }
    let ink = 0;
    for (let k = 0; k < data.length; k += 4) if (data[k] < 235 || data[k + 1] < 235 || data[k + 2] < 235) ink++;
    return ink / (cw * ch);
  };
  const areas = [];
  imgs.forEach((img, i) => {
    const w = img.naturalWidth, h = img.naturalHeight;
    const broken = !img.complete || w === 0;
    areas.push({ kind: 'img', where: where(img, i), width: img.width, height: img.height, ink: broken ? 0 : inkOf(img, w, h), elements: 0, broken });
  });
  const drawnTags = 'path,rect,line,circle,ellipse,polygon,polyline,text,image,use';
  const svgs = Array.from(document.querySelectorAll('svg')).filter((s) => !(s.parentElement && s.parentElement.closest('svg')));
  svgs.forEach((svg, i) => {
    const box = svg.getBoundingClientRect();
    let elements = 0, covered = 0;
    svg.querySelectorAll(drawnTags).forEach((el) => {
      const b = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || Number(cs.opacity) === 0) return;
      if (b.width > 0 || b.height > 0) { elements++; covered += Math.max(b.width, 1) * Math.max(b.height, 1); }
    });
    areas.push({ kind: 'svg', where: where(svg, i), width: box.width, height: box.height, ink: Math.min(1, covered / Math.max(1, box.width * box.height)), elements });
  });
  Array.from(document.querySelectorAll('canvas')).forEach((c, i) => {
    areas.push({ kind: 'canvas', where: where(c, i), width: c.width, height: c.height, ink: inkOf(c, c.width, c.height), elements: 0 });
  });
  const texts = [], errors = [];
  document.querySelectorAll('.jp-OutputArea-output, .output_subarea').forEach((o, i) => {
    const mime = o.getAttribute('data-mime-type') || '';
    const text = o.innerText || o.textContent || '';
    if (mime === 'application/vnd.jupyter.stderr' || o.classList.contains('output_stderr') || o.classList.contains('output_error')) {
      errors.push({ where: where(o, i), head: text.slice(0, 400) });
    } else if (mime === 'text/plain' || mime === 'application/vnd.jupyter.stdout' || o.querySelector(':scope > pre')) {
      texts.push({ where: where(o, i), mime, length: text.length, head: text.slice(0, 400) });
    }
  });
  return { title: document.title, notebook, areas, texts, errors, bodyTextLength: ((document.body && document.body.innerText) || document.documentElement.textContent || '').length };
})()`;

/** A MIME bundle (or a plot's SVG) printed as text: quoted MIME keys or SVG markup in a text output. */
const BUNDLE_AS_TEXT = /['"](application\/vnd\.[\w.+-]+|image\/(svg\+xml|png|jpeg)|text\/html|text\/markdown)['"]\s*:|<svg[\s>]/;

export interface CheckOptions {
  /** write a screenshot of the whole page beside it (default true) */
  screenshot?: boolean;
  /** where to write the screenshot (default: the page's path + '.png') */
  screenshotFile?: string;
  /** the least number of drawn plot areas the page must show (e.g. the plots of the executed notebook) */
  expectedPlots?: number;
  /** text outputs longer than this many characters are dumps nobody reads (default 20,000) */
  maxTextOutput?: number;
  /** least share of non-white pixels for an image to count as drawn (default 0.002) */
  minInk?: number;
}

/** Judge an inspection: blank plots, broken images, errors, bundles or long dumps printed as text. */
export function pageProblems(p: PageInspection, opts: CheckOptions = {}, scriptErrors: string[] = []): string[] {
  const problems: string[] = [];
  const minInk = opts.minInk ?? 0.002;
  for (const a of p.areas) {
    if (a.width < 2 || a.height < 2) continue; // icons, hidden defs
    if (a.kind === 'img' && a.broken) problems.push(`${a.where}: an image that does not load`);
    else if (a.kind === 'svg' && a.elements === 0) problems.push(`${a.where}: a ${Math.round(a.width)}x${Math.round(a.height)} SVG with nothing drawn in it`);
    else if (a.kind !== 'svg' && a.ink >= 0 && a.ink < minInk) problems.push(`${a.where}: a blank ${a.kind} (${(a.ink * 100).toFixed(2)}% of its pixels drawn)`);
  }
  const drawn = p.areas.filter((a) => a.width >= 2 && a.height >= 2 && (a.kind === 'svg' ? a.elements > 0 : !a.broken && (a.ink < 0 || a.ink >= minInk))).length;
  if (opts.expectedPlots !== undefined && drawn < opts.expectedPlots) problems.push(`${drawn} drawn plot areas, expected at least ${opts.expectedPlots}`);
  const maxText = opts.maxTextOutput ?? 20_000;
  for (const t of p.texts) {
    if (BUNDLE_AS_TEXT.test(t.head)) problems.push(`${t.where}: a MIME bundle or SVG printed as text: ${t.head.slice(0, 120).replace(/\s+/g, ' ')}`);
    else if (t.length > maxText) problems.push(`${t.where}: ${t.length} characters of text output: ${t.head.slice(0, 120).replace(/\s+/g, ' ')}`);
  }
  for (const e of p.errors) problems.push(`${e.where}: error output: ${e.head.slice(0, 300).replace(/\s+/g, ' ')}`);
  for (const e of scriptErrors) problems.push(`the page's script failed: ${e.slice(0, 300)}`);
  return problems;
}

/** Open one page (HTML or SVG file) in a running Chromium, inspect it, screenshot it, judge it. */
export async function checkPage(browser: Chromium, file: string, opts: CheckOptions = {}): Promise<PageReport> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`checkPage: ${abs} does not exist`);
  const page = await browser.open(pathToFileURL(abs).href);
  try {
    const inspection = await page.evaluate<PageInspection>(INSPECT);
    let screenshot: string | undefined;
    if (opts.screenshot ?? true) {
      screenshot = opts.screenshotFile ?? `${abs}.png`;
      await page.screenshot(screenshot);
    }
    const scriptErrors = [...page.errors];
    return { ...inspection, file: abs, screenshot, scriptErrors, problems: pageProblems(inspection, opts, scriptErrors) };
  } finally {
    await page.close();
  }
}

type NbOutput = { output_type: string; name?: string; text?: string | string[]; data?: Record<string, unknown>; ename?: string; evalue?: string };
const joined = (v: unknown) => (Array.isArray(v) ? v.join('') : String(v ?? ''));

/**
 * What is wrong in an executed notebook's outputs themselves (independent of any renderer): error
 * outputs, plots without a static image, bundles or long dumps printed as text. Also counts its plots.
 */
export function notebookOutputProblems(ipynbFile: string, opts: { maxTextOutput?: number } = {}): { plots: number; problems: string[] } {
  const nb = JSON.parse(fs.readFileSync(ipynbFile, 'utf8')) as { cells: Array<{ cell_type: string; outputs?: NbOutput[] }> };
  const problems: string[] = [];
  let plots = 0;
  const maxText = opts.maxTextOutput ?? 20_000;
  nb.cells.forEach((c, i) => {
    const where = `cell ${i + 1}`;
    for (const o of c.outputs ?? []) {
      if (o.output_type === 'error') problems.push(`${where}: error ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream') {
        const text = joined(o.text);
        if (o.name === 'stderr') problems.push(`${where}: stderr: ${text.slice(0, 300).replace(/\s+/g, ' ')}`);
        else if (BUNDLE_AS_TEXT.test(text)) problems.push(`${where}: a MIME bundle or SVG printed as text: ${text.slice(0, 120).replace(/\s+/g, ' ')}`);
        else if (text.length > maxText) problems.push(`${where}: ${text.length} characters printed`);
      }
      const d = o.data;
      if (!d) continue;
      const isPlot = 'application/vnd.vegalite.v5+json' in d || 'image/png' in d || 'image/svg+xml' in d || /<img\s/.test(joined(d['text/html']));
      if (isPlot) plots++;
      if ('application/vnd.vegalite.v5+json' in d && !('image/png' in d) && !/<img\s/.test(joined(d['text/html']))) problems.push(`${where}: a Vega-Lite plot without a static image (image/png) for readers without Vega`);
      if ('image/svg+xml' in d && !('image/png' in d)) problems.push(`${where}: image/svg+xml alone, which nbconvert's HTML sanitizer draws blank`);
      const plain = joined(d['text/plain']);
      if (o.output_type === 'execute_result' && BUNDLE_AS_TEXT.test(plain)) problems.push(`${where}: a MIME bundle shown as the cell's value`);
      if (plain.length > maxText) problems.push(`${where}: ${plain.length} characters of text/plain`);
    }
  });
  return { plots, problems };
}

/** Pages of a run folder: the executed notebooks' HTML exports and the standalone pages in stage folders. */
export function runPages(runDir: string, names?: string[]): { notebooks: string[]; standalone: string[] } {
  const want = (n: string) => !names || names.some((x) => n === x || n.startsWith(`${x}.`) || n.startsWith(`${x}/`));
  const notebooks = fs.readdirSync(runDir).filter((f) => /^\d+_.*\.html$/.test(f) && want(f.replace(/\.html$/, ''))).sort().map((f) => path.join(runDir, f));
  const standalone: string[] = [];
  for (const d of fs.readdirSync(runDir).filter((f) => /^\d+_/.test(f) && fs.statSync(path.join(runDir, f)).isDirectory()).sort()) {
    if (!want(d)) continue;
    for (const f of fs.readdirSync(path.join(runDir, d)).sort()) if (/\.(html|svg)$/.test(f)) standalone.push(path.join(runDir, d, f));
  }
  return { notebooks, standalone };
}

/**
 * Check every page of a run (or of the named stages): each notebook's HTML export against its .ipynb
 * (every plot drawn, no errors, no dumps) and each standalone page. Screenshots land beside the pages
 * (`<page>.png`). One Chromium for all.
 */
export async function checkRunPages(runDir: string, opts: { names?: string[]; screenshot?: boolean; browser?: Chromium } = {}): Promise<PageReport[]> {
  const { notebooks, standalone } = runPages(runDir, opts.names);
  const browser = opts.browser ?? (await Chromium.launch());
  const reports: PageReport[] = [];
  try {
    for (const html of notebooks) {
      const ipynb = html.replace(/\.html$/, '.ipynb');
      const nb = fs.existsSync(ipynb) ? notebookOutputProblems(ipynb) : { plots: 0, problems: [`${ipynb} is missing`] };
      const r = await checkPage(browser, html, { screenshot: opts.screenshot, expectedPlots: nb.plots });
      r.problems.unshift(...nb.problems.map((p) => `${path.basename(ipynb)} ${p}`));
      reports.push(r);
    }
    for (const page of standalone) reports.push(await checkPage(browser, page, { screenshot: opts.screenshot, expectedPlots: 1 }));
  } finally {
    if (!opts.browser) await browser.close();
  }
  return reports;
}

/** One line per page: OK or its problems. */
export function describeReports(reports: PageReport[], root = process.cwd()): string {
  return reports.map((r) => {
    const name = path.relative(root, r.file) || r.file;
    const drawn = r.areas.filter((a) => a.kind === 'svg' ? a.elements > 0 : !a.broken).length;
    return r.problems.length ? `FAIL ${name}:\n  ${r.problems.join('\n  ')}` : `ok   ${name} (${drawn} drawn areas${r.screenshot ? `, screenshot ${path.relative(root, r.screenshot)}` : ''})`;
  }).join('\n');
}
