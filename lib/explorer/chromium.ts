/**
 * Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no port,
 * no WebSocket library): open a page, evaluate JavaScript in it, click, take screenshots. Used to
 * test and photograph the explorer page. Debian's chromium by default ($SAELAB_CHROMIUM overrides).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable, Writable } from 'stream';

/** The browser binary: $SAELAB_CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH. */
export function findChromium(): string | undefined {
  if (process.env.SAELAB_CHROMIUM) return process.env.SAELAB_CHROMIUM;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) return p;
    }
  }
  return undefined;
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  method: string;
}

/** One headless browser with one page. */
export class HeadlessChromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private sessionId = '';
  private readonly consoleLines: string[] = [];
  private exited = false;
  private stderrTail = '';

  private constructor(private readonly proc: ChildProcess, private readonly userDataDir: string) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => this.onData(chunk));
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (d: string) => { this.stderrTail = (this.stderrTail + d).slice(-4000); });
    proc.on('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited (code ${code}) during ${p.method}: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}`));
      this.pending.clear();
    });
  }

  /** Start chromium headless with a fresh profile and attach to its page; the viewport is width x height CSS pixels. */
  static async launch(opts: { width?: number; height?: number; binary?: string } = {}): Promise<HeadlessChromium> {
    const binary = opts.binary ?? findChromium();
    if (!binary) throw new Error('no chromium found: install Debian\'s chromium (apt-get install chromium fonts-dejavu-core) or set SAELAB_CHROMIUM');
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-chromium-'));
    const args = [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--hide-scrollbars', '--mute-audio',
      `--user-data-dir=${userDataDir}`, '--remote-debugging-pipe', `--window-size=${opts.width ?? 1280},${opts.height ?? 900}`, 'about:blank',
    ];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new HeadlessChromium(proc, userDataDir);
    try {
      const { targetInfos } = await browser.send('Target.getTargets');
      let page = (targetInfos as Array<{ type: string; targetId: string }>).find((t) => t.type === 'page');
      if (!page) page = { type: 'page', targetId: (await browser.send('Target.createTarget', { url: 'about:blank' })).targetId };
      browser.sessionId = (await browser.send('Target.attachToTarget', { targetId: page.targetId, flatten: true })).sessionId;
      await browser.send('Page.enable');
      await browser.send('Runtime.enable');
      await browser.send('Emulation.setDeviceMetricsOverride', { width: opts.width ?? 1280, height: opts.height ?? 900, deviceScaleFactor: 1, mobile: false });
      return browser;
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\0')) >= 0) {
      const msg = JSON.parse(this.buffer.slice(0, i));
      this.buffer = this.buffer.slice(i + 1);
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        if (!p) continue;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}${msg.error.data ? ` (${msg.error.data})` : ''}`));
        else p.resolve(msg.result);
      } else if (msg.method === 'Runtime.consoleAPICalled') {
        const args = (msg.params.args as Array<{ value?: unknown; description?: string }>).map((a) => (a.value !== undefined ? String(a.value) : a.description ?? ''));
        this.consoleLines.push(`${msg.params.type}: ${args.join(' ')}`);
      } else if (msg.method === 'Runtime.exceptionThrown') {
        const d = msg.params.exceptionDetails;
        this.consoleLines.push(`exception: ${d.exception?.description ?? d.text}`);
      }
    }
  }

  /** Send a DevTools protocol command (to the page's session once attached) and wait for its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    if (this.exited) return Promise.reject(new Error(`chromium has exited; cannot send ${method}: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}`));
    const id = this.nextId++;
    const msg: Record<string, unknown> = { id, method, params };
    if (this.sessionId && !method.startsWith('Target.')) msg.sessionId = this.sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      (this.proc.stdio[3] as Writable).write(JSON.stringify(msg) + '\0');
    });
  }

  /** The page's console messages and uncaught exceptions so far. */
  console(): string[] {
    return this.consoleLines.slice();
  }

  /** Navigate and wait until the new document has loaded (the old one is marked, so its state is never mistaken for the new one's). */
  async goto(url: string, timeoutMs = 30000): Promise<void> {
    await this.evaluate('window.__saelabOldDocument = true');
    const r = await this.send('Page.navigate', { url });
    if (r.errorText) throw new Error(`navigating to ${url} failed: ${r.errorText}`);
    await this.evaluateUntil('!window.__saelabOldDocument && document.readyState === "complete"', timeoutMs);
  }

  /** Evaluate an expression in the page (awaiting a promise) and return its JSON value. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`evaluating ${expression.slice(0, 80)}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Poll `expression` until it is truthy; return its value. Times out naming the expression and the page's console. */
  async evaluateUntil<T = unknown>(expression: string, timeoutMs = 60000, everyMs = 100): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      let v: T | undefined;
      try {
        v = await this.evaluate<T>(expression);
      } catch (e) {
        if (this.exited) throw e;
      }
      if (v) return v;
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}; page console:\n  ${this.consoleLines.slice(-15).join('\n  ') || '(empty)'}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  /** Click the centre of the first element matching a CSS selector (real mouse events). */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(`(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null;
      e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`);
    if (!box) throw new Error(`click: no element matches ${selector}`);
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
    }
  }

  /** PNG of the whole page (beyond the viewport), written to `file`. */
  async screenshot(file: string): Promise<void> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
  }

  /** Close the browser and remove its profile folder. */
  async close(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
      try {
        (this.proc.stdio[3] as Writable).write(JSON.stringify({ id: this.nextId++, method: 'Browser.close', params: {} }) + '\0');
      } catch { /* already gone */ }
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.userDataDir, { recursive: true, force: true });
  }
}
