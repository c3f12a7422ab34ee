/**
 * Drive a real Jupyter server the way JupyterLab does: start Debian's `jupyter notebook` on loopback with a
 * token, open a session over REST, and execute cells over the kernel's websocket (the JSON message
 * protocol with a `channel` field). Interrupt and restart go through the REST API. Test support only.
 */
import { spawn, ChildProcess } from 'child_process';
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import WebSocket from 'ws';

/** A message of the Jupyter messaging protocol as it travels over the websocket. */
export interface JupyterMessage {
  channel: string;
  header: { msg_id: string; msg_type: string; session: string; date?: string };
  parent_header: { msg_id?: string };
  metadata: Record<string, unknown>;
  content: Record<string, any>;
}

/** Everything one execute_request produced: its reply and the iopub messages it caused, in order. */
export interface Execution {
  reply: JupyterMessage;
  iopub: JupyterMessage[];
  /** ms from sending to the kernel going idle */
  ms: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A `jupyter notebook` server of Debian's python on 127.0.0.1, serving `root`, with a private token and runtime dirs. */
export class JupyterServer {
  private log = '';

  private constructor(readonly child: ChildProcess, readonly port: number, readonly token: string) {
    child.stdout!.on('data', (d) => { this.log = (this.log + d).slice(-8000); });
    child.stderr!.on('data', (d) => { this.log = (this.log + d).slice(-8000); });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The server's recent output (for failure messages). */
  get output(): string {
    return this.log;
  }

  static async start(opts: { python: string; root: string; env: Record<string, string>; stateDir: string }): Promise<JupyterServer> {
    const port = await freePort();
    for (const d of ['runtime', 'data', 'config']) fs.mkdirSync(path.join(opts.stateDir, d), { recursive: true });
    const token = randomBytes(16).toString('hex');
    const child = spawn(opts.python, ['-m', 'notebook', '--no-browser', '--allow-root', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
      `--notebook-dir=${opts.root}`, `--NotebookApp.token=${token}`, '--NotebookApp.open_browser=False'], {
      cwd: opts.root, stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env, ...opts.env,
        JUPYTER_RUNTIME_DIR: path.join(opts.stateDir, 'runtime'), JUPYTER_DATA_DIR: path.join(opts.stateDir, 'data'), JUPYTER_CONFIG_DIR: path.join(opts.stateDir, 'config'),
        PYDEVD_DISABLE_FILE_VALIDATION: '1',
      },
    });
    const server = new JupyterServer(child, port, token);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`jupyter notebook exited (${child.exitCode}):\n${server.output}`);
      try {
        const r = await fetch(`${server.base}/api/status`, { headers: server.headers() });
        if (r.ok) return server;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        server.stop();
        throw new Error(`jupyter notebook did not answer on ${server.base} in 60 s:\n${server.output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  headers(): Record<string, string> {
    return { Authorization: `token ${this.token}`, 'Content-Type': 'application/json' };
  }

  async api(method: string, route: string, body?: unknown): Promise<any> {
    const r = await fetch(`${this.base}${route}`, { method, headers: this.headers(), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${route}: HTTP ${r.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  }

  /** Open a notebook session with a kernel (POST /api/sessions), as JupyterLab does when a notebook is opened. */
  async openSession(notebookPath: string, kernelName: string): Promise<KernelConnection> {
    const s = await this.api('POST', '/api/sessions', { path: notebookPath, name: path.basename(notebookPath), type: 'notebook', kernel: { name: kernelName } });
    const conn = new KernelConnection(this, s.id as string, s.kernel.id as string);
    await conn.connect();
    return conn;
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  /** Stop and wait for the server (and with it its kernels) to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}

/** A kernel's websocket (/api/kernels/<id>/channels) and the REST calls on the kernel. */
export class KernelConnection {
  private ws: WebSocket | null = null;
  private readonly clientSession = randomUUID();
  private readonly listeners = new Set<(m: JupyterMessage) => void>();

  constructor(private readonly server: JupyterServer, readonly sessionId: string, readonly kernelId: string) {}

  async connect(): Promise<void> {
    const url = `ws://127.0.0.1:${this.server.port}/api/kernels/${this.kernelId}/channels?session_id=${this.clientSession}&token=${this.server.token}`;
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as JupyterMessage;
      for (const l of this.listeners) l(m);
    });
    this.ws = ws;
  }

  private send(channel: string, msgType: string, content: Record<string, unknown>): string {
    const msgId = randomUUID();
    const msg = {
      channel, header: { msg_id: msgId, msg_type: msgType, session: this.clientSession, username: 'saelab-test', date: new Date().toISOString(), version: '5.3' },
      parent_header: {}, metadata: {}, content, buffers: [],
    };
    this.ws!.send(JSON.stringify(msg));
    return msgId;
  }

  /** Wait for a message matching `pred` (checked on every message from now on). */
  waitFor(pred: (m: JupyterMessage) => boolean, timeoutMs: number, what: string): Promise<JupyterMessage> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.listeners.delete(l); reject(new Error(`no ${what} in ${timeoutMs / 1000} s`)); }, timeoutMs);
      const l = (m: JupyterMessage) => {
        if (pred(m)) { clearTimeout(t); this.listeners.delete(l); resolve(m); }
      };
      this.listeners.add(l);
    });
  }

  /** Send an execute_request; returns its msg_id and a promise of the whole execution (reply + iopub until idle). */
  execute(code: string, timeoutMs = 300_000): { msgId: string; done: Promise<Execution> } {
    const iopub: JupyterMessage[] = [];
    const start = Date.now();
    let msgId = '';
    const collect = (m: JupyterMessage) => { if (m.parent_header?.msg_id === msgId && m.channel === 'iopub') iopub.push(m); };
    this.listeners.add(collect);
    msgId = this.send('shell', 'execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
    const reply = this.waitFor((m) => m.channel === 'shell' && m.header.msg_type === 'execute_reply' && m.parent_header?.msg_id === msgId, timeoutMs, `execute_reply for ${code.slice(0, 60)}`);
    const idle = this.waitFor((m) => m.channel === 'iopub' && m.header.msg_type === 'status' && m.content.execution_state === 'idle' && m.parent_header?.msg_id === msgId, timeoutMs, `idle after ${code.slice(0, 60)}`);
    const done = Promise.all([reply, idle]).then(([r]) => ({ reply: r, iopub, ms: Date.now() - start })).finally(() => this.listeners.delete(collect));
    return { msgId, done };
  }

  /** POST /api/kernels/<id>/interrupt (the stop button). */
  async interrupt(): Promise<void> {
    await this.server.api('POST', `/api/kernels/${this.kernelId}/interrupt`);
  }

  /** POST /api/kernels/<id>/restart (the restart button); resolves when the server says the kernel is back. */
  async restart(): Promise<void> {
    await this.server.api('POST', `/api/kernels/${this.kernelId}/restart`);
  }

  close(): void {
    this.ws?.close();
  }
}

/** The text a cell printed (stdout/stderr streams) and its display_data/execute_result bundles. */
export function outputsOf(e: Execution): { stdout: string; stderr: string; displays: Array<{ data: Record<string, any>; metadata: Record<string, any> }>; errors: string[] } {
  let stdout = '';
  let stderr = '';
  const displays: Array<{ data: Record<string, any>; metadata: Record<string, any> }> = [];
  const errors: string[] = [];
  for (const m of e.iopub) {
    const t = m.header.msg_type;
    if (t === 'stream') { if (m.content.name === 'stderr') stderr += m.content.text; else stdout += m.content.text; }
    else if (t === 'display_data' || t === 'execute_result') displays.push({ data: m.content.data, metadata: m.content.metadata ?? {} });
    else if (t === 'error') errors.push(`${m.content.ename}: ${m.content.evalue}`);
  }
  return { stdout, stderr, displays, errors };
}
