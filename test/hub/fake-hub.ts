import * as crypto from 'crypto';
import * as http from 'http';
import { AddressInfo } from 'net';

/** One repo served by the loopback hub: revision name -> commit, commit -> files. */
export interface FakeRepo {
  type: 'model' | 'dataset';
  id: string;
  refs: Record<string, string>;
  commits: Record<string, Record<string, Buffer>>;
  /** when set, every route answers 401 GatedRepo unless `Authorization: Bearer <token>` matches */
  gatedToken?: string;
}

export interface SeenRequest {
  method: string;
  url: string;
  authorization?: string;
}

/**
 * A loopback HTTP server answering like the Hugging Face hub for the routes @huggingface/hub 2.17 calls:
 * GET /api/{models|datasets}/{id}/revision/{rev}, GET .../tree/{rev}, POST .../paths-info/{rev},
 * GET [/datasets]/{id}/resolve/{rev}/{file} (Range, X-Repo-Commit, ETag, X-Linked-Etag, X-Linked-Size).
 */
export class FakeHub {
  readonly requests: SeenRequest[] = [];
  /** files whose next full download is cut off halfway (socket destroyed) */
  readonly truncateNext = new Set<string>();
  private server: http.Server;
  url = '';

  constructor(readonly repos: FakeRepo[]) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks));
        } catch (e) {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(String(e));
        }
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(b.length), ...headers });
    res.end(b);
  }

  private findRepo(type: string, rest: string): { repo: FakeRepo; tail: string } | undefined {
    for (const repo of this.repos) {
      if (repo.type !== type) continue;
      if (rest.startsWith(repo.id + '/')) return { repo, tail: rest.slice(repo.id.length + 1) };
    }
    return undefined;
  }

  private commitOf(repo: FakeRepo, rev: string): string | undefined {
    if (repo.commits[rev]) return rev;
    return repo.refs[rev];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const u = new URL(req.url!, 'http://x');
    const p = decodeURIComponent(u.pathname);
    this.requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    let m = /^\/api\/(models|datasets)\/(.+)$/.exec(p);
    if (m) {
      const found = this.findRepo(m[1].slice(0, -1), m[2]);
      if (!found) return this.json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      if (!this.authorized(found.repo, req, res)) return;
      const a = /^(revision|tree|paths-info)\/(.+?)$/.exec(found.tail);
      if (!a) return this.json(res, 404, { error: 'unknown route' });
      const commit = this.commitOf(found.repo, a[2]);
      if (!commit) return this.json(res, 404, { error: `Invalid rev id: ${a[2]}` }, { 'X-Error-Code': 'RevisionNotFound' });
      const files = found.repo.commits[commit];
      if (a[1] === 'revision') {
        return this.json(res, 200, {
          _id: 'abc', id: found.repo.id, sha: commit, private: false, gated: found.repo.gatedToken ? 'auto' : false,
          downloads: 0, likes: 0, lastModified: '2024-01-01T00:00:00.000Z', pipeline_tag: 'text-generation',
          siblings: Object.keys(files).map((rfilename) => ({ rfilename })),
        });
      }
      if (a[1] === 'tree') return this.json(res, 200, Object.keys(files).map((f) => this.entry(f, files[f], commit, false)));
      const { paths } = JSON.parse(body.toString()) as { paths: string[] };
      return this.json(res, 200, paths.filter((f) => files[f]).map((f) => this.entry(f, files[f], commit, true)));
    }
    m = /^\/(datasets\/)?(.+)$/.exec(p);
    const found = m && this.findRepo(m[1] ? 'dataset' : 'model', m[2]);
    const r = found && /^resolve\/([^/]+)\/(.+)$/.exec(found.tail);
    if (!found || !r) return this.json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (!this.authorized(found.repo, req, res)) return;
    const commit = this.commitOf(found.repo, r[1]);
    if (!commit) return this.json(res, 404, { error: 'Revision not found' }, { 'X-Error-Code': 'RevisionNotFound' });
    const data = found.repo.commits[commit][r[2]];
    if (!data) return this.json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    const etag = `"${this.etagOf(r[2], data)}"`;
    const headers: Record<string, string> = {
      'X-Repo-Commit': commit, ETag: etag, 'X-Linked-Etag': etag, 'X-Linked-Size': String(data.length),
      'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream',
    };
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range) {
      const a = Number(range[1]);
      const b = Math.min(Number(range[2]), data.length - 1);
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${a}-${b}/${data.length}`, 'Content-Length': String(b - a + 1) });
      return void res.end(data.subarray(a, b + 1));
    }
    res.writeHead(200, { ...headers, 'Content-Length': String(data.length) });
    if (this.truncateNext.delete(r[2])) {
      res.write(data.subarray(0, data.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.end(data);
  }

  private authorized(repo: FakeRepo, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (!repo.gatedToken || req.headers.authorization === `Bearer ${repo.gatedToken}`) return true;
    this.json(res, 401, { error: `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.` },
      { 'X-Error-Code': 'GatedRepo' });
    return false;
  }

  /** LFS files (.safetensors, .parquet) are addressed by sha256, others by their git blob sha1. */
  private isLfs(file: string): boolean {
    return /\.(safetensors|parquet|bin)$/.test(file);
  }

  private etagOf(file: string, data: Buffer): string {
    return this.isLfs(file) ? sha256(data) : gitBlobSha1(data);
  }

  private entry(file: string, data: Buffer, commit: string, expand: boolean): Record<string, unknown> {
    const e: Record<string, unknown> = { type: 'file', path: file, size: data.length, oid: gitBlobSha1(data) };
    if (this.isLfs(file)) e.lfs = { oid: sha256(data), size: data.length, pointerSize: 134 };
    // the hub reports the file's last-changing commit, which can be older than the branch head
    if (expand) e.lastCommit = { id: OLDER_COMMIT, title: 'update', date: '2024-01-01T00:00:00.000Z' };
    return e;
  }
}

/** A commit id paths-info reports as a file's last change (never a snapshot folder name). */
export const OLDER_COMMIT = '0123456789abcdef0123456789abcdef01234567';

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

export function gitBlobSha1(b: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}
