/**
 * Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no port,
 * no websocket, no downloaded browser. Uses the system's Chromium (Debian's `chromium`, or
 * $SAELAB_CHROMIUM / $CHROME_PATH).
 */
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Readable, Writable } from 'stream';
import { writeFileAtomic } from '../io/atomic';

export const CHROMIUM_INSTALL_HINT = 'apt-get install -y --no-install-recommends chromium fonts-dejavu-core';

/** The Chromium binary: $SAELAB_CHROMIUM, $CHROME_PATH, else the first of Debian's and other usual names on PATH. */
export function findChromium(): string | null {
  const env = [process.env.SAELAB_CHROMIUM, process.env.CHROME_PATH].filter((x): x is string => !!x);
  for (const p of env) if (fs.existsSync(p)) return p;
  const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter).concat(['/usr/bin'])) {
    for (const n of names) {
      const p = path.join(dir, n);
      if (fs.existsSync(p)) return p;
    }
  }
  return null;
}

type Json = Record<string, unknown>;
interface Pending { resolve: (v: Json) => void; reject: (e: Error) => void; method: string }

/** A running headless Chromium and its DevTools connection. Close it with `close()`. */
export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(method: string, params: Json, sessionId?: string) => void>();
  private buffer = '';
  private exited: Error | null = null;

  private constructor(private readonly child: ChildProcess, private readonly profile: string) {
    const out = child.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => this.receive(chunk));
    child.on('exit', (code, signal) => {
      this.exited = new Error(`chromium exited (${signal ?? `code ${code}`})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  /** Start headless Chromium. Throws, naming the package to install, when there is none. */
  static async launch(opts: { binary?: string; windowSize?: [number, number]; tmpDir?: string } = {}): Promise<Chromium> {
    const binary = opts.binary ?? findChromium();
    if (!binary) throw new Error(`no Chromium found (set SAELAB_CHROMIUM, or install it: ${CHROMIUM_INSTALL_HINT})`);
    const tmp = opts.tmpDir ?? os.tmpdir();
    const profile = fs.mkdtempSync(path.join(tmp, 'saelab-chromium-'));
    const [w, h] = opts.windowSize ?? [1280, 2000];
    const args = [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--no-default-browser-check', '--disable-extensions',
      '--disable-dev-shm-usage', '--mute-audio', `--window-size=${w},${h}`, `--user-data-dir=${profile}`,
      // offline by construction: no host name resolves (pages' CDN scripts fail at once instead of timing out);
      // loopback stays reachable (pages served by a test's local server)
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
      '--remote-debugging-pipe', 'about:blank',
    ];
    // its own process group, so that close() ends the renderers and helpers with it
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, TMPDIR: tmp } });
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    const browser = new Chromium(child, profile);
    await new Promise<void>((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot start ${binary}: ${e.message}`)));
      child.once('spawn', () => resolve());
    });
    try {
      await browser.send('Browser.getVersion', {}, undefined, 60_000);
    } catch (e) {
      await browser.close();
      throw new Error(`${binary} did not answer on the DevTools pipe: ${(e as Error).message}\n${stderr.trim().split('\n').slice(-5).join('\n')}`);
    }
    return browser;
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const text = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      const msg = JSON.parse(text) as { id?: number; result?: Json; error?: { message: string }; method?: string; params?: Json; sessionId?: string };
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        if (!p) continue;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result ?? {});
      } else if (msg.method) {
        for (const l of this.listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
      }
    }
  }

  /** Send one DevTools command (to a page when `sessionId` is given) and wait for its result. */
  send(method: string, params: Json = {}, sessionId?: string, timeoutMs = 60_000): Promise<Json> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    const input = this.child.stdio[3] as Writable;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from chromium in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Call `listener` for every DevTools event; returns the function that removes it. */
  onEvent(listener: (method: string, params: Json, sessionId?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Wait for an event (optionally of one page session) matching `pred`. */
  waitFor(method: string, sessionId: string | undefined, timeoutMs: number, pred: (p: Json) => boolean = () => true): Promise<Json> {
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => { this.listeners.delete(l); reject(new Error(`no ${method} from chromium in ${timeoutMs / 1000} s`)); }, timeoutMs);
      const l = (m: string, p: Json, s?: string) => {
        if (m === method && (sessionId === undefined || s === sessionId) && pred(p)) {
          clearTimeout(timer);
          this.listeners.delete(l);
          resolve(p);
        }
      };
      this.listeners.add(l);
    });
  }

  /** Open a new tab on `url`, wait for its load event, and return it. */
  async open(url: string, opts: { width?: number; height?: number; timeoutMs?: number } = {}): Promise<BrowserPage> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new BrowserPage(this, targetId, sessionId);
    await this.send('Page.enable', {}, sessionId);
    await this.send('Runtime.enable', {}, sessionId);
    await page.setViewport(opts.width ?? 1280, opts.height ?? 2000);
    const loaded = this.waitFor('Page.loadEventFired', sessionId, opts.timeoutMs ?? 60_000);
    const nav = (await this.send('Page.navigate', { url }, sessionId)) as { errorText?: string };
    if (nav.errorText) {
      loaded.catch(() => { /* no load event will come */ });
      await page.close().catch(() => { /* tab already gone */ });
      throw new Error(`cannot open ${url}: ${nav.errorText}`);
    }
    await loaded;
    return page;
  }

  /** Stop Chromium and its helper processes (waiting for them to exit) and remove its temporary profile. */
  async close(): Promise<void> {
    const group = (signal: NodeJS.Signals) => {
      try { process.kill(-this.child.pid!, signal); } catch { /* already gone */ }
    };
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      // asked to close, Chromium removes its own temporary files (/tmp/org.chromium.Chromium.*, left behind by a signal)
      const asked = await this.send('Browser.close', {}, undefined, 5000).then(() => true, () => false);
      if (asked) {
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([gone, new Promise((r) => { wait = setTimeout(r, 5000); })]);
        clearTimeout(wait);
      }
      if (!this.exited) group('SIGTERM');
      const timer = setTimeout(() => group('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    group('SIGKILL'); // helpers that outlived the browser process
    for (let attempt = 0; ; attempt++) {
      try {
        fs.rmSync(this.profile, { recursive: true, force: true });
        return;
      } catch (e) {
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** One tab of a Chromium. */
export class BrowserPage {
  /** exceptions thrown by the page's scripts, and console errors, in order */
  readonly errors: string[] = [];

  constructor(private readonly browser: Chromium, readonly targetId: string, readonly sessionId: string) {
    const listener = (method: string, params: Json, sessionId?: string) => {
      if (sessionId !== this.sessionId) return;
      if (method === 'Runtime.exceptionThrown') {
        const d = params.exceptionDetails as { text?: string; exception?: { description?: string } };
        this.errors.push(d.exception?.description ?? d.text ?? 'exception');
      } else if (method === 'Runtime.consoleAPICalled' && params.type === 'error') {
        this.errors.push(((params.args as Array<{ value?: unknown; description?: string }>) ?? []).map((a) => String(a.value ?? a.description ?? '')).join(' '));
      }
    };
    browser.onEvent(listener);
  }

  /** Evaluate an expression in the page (awaiting a promise) and return its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.browser.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, this.sessionId)) as {
      result: { value?: T }; exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /**
   * Poll `expression` until it is truthy and return its value (a page that is still loading or
   * navigating counts as not yet). Times out naming the expression and the page's errors.
   */
  async evaluateUntil<T>(expression: string, timeoutMs = 60_000, everyMs = 100): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      let v: T | undefined;
      try {
        v = await this.evaluate<T>(expression);
      } catch { /* context replaced while navigating: try again */ }
      if (v) return v;
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`no ${expression} in the page after ${timeoutMs / 1000} s${this.errors.length ? `; page errors:\n  ${this.errors.slice(-10).join('\n  ')}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Click the centre of the first element matching a CSS selector (scrolled into view first). */
  async clickSelector(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null;
      e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
    if (!box) throw new Error(`click: no element matches ${selector}`);
    await this.click(box.x, box.y);
  }

  async setViewport(width: number, height: number): Promise<void> {
    await this.browser.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, this.sessionId);
  }

  /** Click at a point of the page (CSS pixels from the viewport's top left). */
  async click(x: number, y: number): Promise<void> {
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.browser.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 }, this.sessionId);
    }
  }

  /**
   * A PNG of the whole page (up to `maxHeight` CSS pixels tall), written to `file` atomically.
   * Returns the size captured.
   */
  async screenshot(file: string, opts: { width?: number; maxHeight?: number } = {}): Promise<{ width: number; height: number }> {
    const width = opts.width ?? 1280;
    const metrics = (await this.browser.send('Page.getLayoutMetrics', {}, this.sessionId)) as { cssContentSize: { width: number; height: number } };
    const height = Math.max(200, Math.min(Math.ceil(metrics.cssContentSize.height), opts.maxHeight ?? 16000));
    const w = Math.max(width, Math.min(Math.ceil(metrics.cssContentSize.width), 4000));
    await this.setViewport(w, height);
    await this.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const shot = (await this.browser.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width: w, height, scale: 1 } }, this.sessionId, 120_000)) as { data: string };
    writeFileAtomic(file, Buffer.from(shot.data, 'base64'));
    return { width: w, height };
  }

  async close(): Promise<void> {
    await this.browser.send('Target.closeTarget', { targetId: this.targetId });
  }
}
