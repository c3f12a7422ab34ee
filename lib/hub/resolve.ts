import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { downloadFileToCacheDir, listFiles, modelInfo, datasetInfo, HubApiError } from '@huggingface/hub';
import { writeFileAtomic } from '../io/atomic';
import { RepoType, findCachedSnapshot, globToRegExp, isCommitHash, isGlob, repoFolderName, validateRepoId, validateRevision } from './cache';
import { hubCacheDir, hubEndpoint, hubOffline, hubToken, redact, shippedCacheDir } from './env';

export interface ResolveOptions {
  /** branch, tag or commit hash (default 'main') */
  revision?: string;
  repoType?: RepoType;
  /**
   * required files: exact names (must exist) or fnmatch globs like `*.safetensors` (each must match at
   * least one file). A cached snapshot is used only when it has them all. Default: the whole repo.
   */
  files?: string[];
  /** files fetched when the repo has them (names or globs); never required, not checked in caches */
  optionalFiles?: string[];
  /** user cache root (default: $HF_HUB_CACHE / $HF_HOME/hub / ~/.cache/huggingface/hub) */
  cacheDir?: string;
  /** read-only shipped cache roots searched after the user cache (default: [saelab's data/hub]) */
  shippedCacheDirs?: string[];
  /** hub base URL (default $HF_ENDPOINT or https://huggingface.co) */
  endpoint?: string;
  /** access token (default $HF_TOKEN or the saved login token); never printed */
  token?: string;
  /** skip the cache lookups and ask the hub (files already in the cache are not fetched again) */
  forceDownload?: boolean;
  /** only use caches (default: $HF_HUB_OFFLINE) */
  offline?: boolean;
}

export interface ResolvedRepo {
  /** local folder holding the repo's files (a snapshot folder, or the local path given) */
  dir: string;
  /** commit hash of the snapshot ('' for a local folder) */
  commit: string;
  /** the revision asked for ('local' for a local folder) */
  revision: string;
  /** where it came from */
  source: 'local' | 'cache' | 'shipped' | 'download';
}

function looksLikePath(s: string): boolean {
  return s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || s.includes('\\') || s.split('/').length > 2;
}

function expandHome(s: string): string {
  return s.startsWith('~') ? path.join(os.homedir(), s.slice(1)) : s;
}

/** Turn a hub client error into one naming the repo, the revision and what to do; the token never appears. */
function hubError(e: unknown, repoId: string, revision: string, endpoint: string, token: string | undefined, what: string): Error {
  const status = e instanceof HubApiError ? e.statusCode : undefined;
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const detail = redact(((e as Error)?.message ?? String(e)) + (cause ? `: ${cause.code ?? cause.message}` : ''), token);
  let msg: string;
  if (status === 401 || status === 403) {
    msg = `access to ${repoId} denied (HTTP ${status}) while ${what}: the repo is gated or private. ` +
      (token ? 'The token in HF_TOKEN was sent but not accepted: accept the repo\'s terms on its hub page with that account, or use a token with read access.'
        : `Accept its terms at ${endpoint}/${repoId} and set HF_TOKEN to a read token.`);
  } else if (status === 404) {
    msg = `${repoId} at revision '${revision}' not found on ${endpoint} while ${what} (HTTP 404): check the repo id, revision and file names`;
  } else if (status !== undefined) {
    msg = `hub error for ${repoId}@${revision} while ${what} (HTTP ${status}): ${detail}`;
  } else if (what.startsWith('downloading')) {
    msg = `${what} from ${repoId}@${revision} failed (${detail}): the partial file was left as blobs/*.incomplete and is not used; run again to retry`;
  } else {
    msg = `cannot reach the hub at ${endpoint} for ${repoId}@${revision} while ${what} (${detail}). ` +
      'Set HF_HUB_OFFLINE=1 to use cached files only, or HF_ENDPOINT for a mirror.';
  }
  const err = new Error(msg);
  (err as Error & { statusCode?: number }).statusCode = status;
  return err;
}

/** fetch that adds the Authorization header itself (any token format) and keeps the token out of errors. */
function authFetch(token: string | undefined): typeof fetch {
  return async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const headers = new Headers(init?.headers);
    if (token && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

let quietDepth = 0;
let savedDebug: typeof console.debug | undefined;

/**
 * Run with console.debug quieted (the hub client logs each download there, on stdout; CLI output must
 * stay clean JSON). SAELAB_VERBOSE=1 sends those lines to stderr. Safe for concurrent calls.
 */
async function debugToStderr<T>(fn: () => Promise<T>): Promise<T> {
  if (quietDepth++ === 0) {
    savedDebug = console.debug;
    console.debug = (...args: unknown[]) => { if (process.env.SAELAB_VERBOSE) process.stderr.write(args.map(String).join(' ') + '\n'); };
  }
  try {
    return await fn();
  } finally {
    if (--quietDepth === 0 && savedDebug) console.debug = savedDebug;
  }
}

/**
 * Resolve a local folder or a hub repo id (+ revision) to a local folder of its files.
 * Lookup order: a local folder as is; the user's hub cache; the shipped cache (saelab's data/hub);
 * then a download into the user cache with @huggingface/hub (unless offline). Downloaded files go
 * under the revision's head commit, with refs/<revision> written, as Python's huggingface_hub does,
 * so a cache filled by either serves both.
 */
export async function resolveRepo(repoId: string, opts: ResolveOptions = {}): Promise<ResolvedRepo> {
  const local = expandHome(repoId);
  if (fs.existsSync(local) && fs.statSync(local).isDirectory()) {
    for (const f of opts.files ?? []) {
      if (!isGlob(f) && !fs.existsSync(path.join(local, f))) throw new Error(`local folder ${local} has no file '${f}'`);
    }
    return { dir: path.resolve(local), commit: '', revision: 'local', source: 'local' };
  }
  if (looksLikePath(repoId)) throw new Error(`local folder '${repoId}' does not exist`);
  validateRepoId(repoId);
  const revision = opts.revision ?? 'main';
  validateRevision(revision);
  const repoType = opts.repoType ?? 'model';
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const files = opts.files;

  if (!opts.forceDownload) {
    const user = findCachedSnapshot(cacheDir, repoId, repoType, revision, files);
    if (user) return { dir: user.dir, commit: user.commit, revision, source: 'cache' };
    for (const root of opts.shippedCacheDirs ?? [shippedCacheDir()]) {
      const s = findCachedSnapshot(root, repoId, repoType, revision, files);
      if (s) return { dir: s.dir, commit: s.commit, revision, source: 'shipped' };
    }
  }
  const offline = opts.offline ?? hubOffline();
  if (offline) {
    throw new Error(`${repoType} ${repoId}@${revision}${files ? ` (files ${files.join(', ')})` : ''} is not in the hub cache ${cacheDir} ` +
      `(or saelab's shipped cache) and HF_HUB_OFFLINE is set: download it on a machine with access, or unset HF_HUB_OFFLINE`);
  }
  return download(repoId, revision, repoType, cacheDir, files, opts);
}

async function download(repoId: string, revision: string, repoType: RepoType, cacheDir: string, files: string[] | undefined, opts: ResolveOptions): Promise<ResolvedRepo> {
  const endpoint = (opts.endpoint ?? hubEndpoint()).replace(/\/+$/, '');
  const token = opts.token ?? hubToken();
  const common = { hubUrl: endpoint, fetch: authFetch(token) };
  const repo = { type: repoType, name: repoId } as const;

  let commit: string;
  try {
    const info = repoType === 'dataset'
      ? await datasetInfo({ ...common, name: repoId, revision, additionalFields: ['sha'] })
      : await modelInfo({ ...common, name: repoId, revision, additionalFields: ['sha'] });
    commit = String((info as { sha?: string }).sha ?? '');
  } catch (e) {
    throw hubError(e, repoId, revision, endpoint, token, 'looking up the revision');
  }
  if (!isCommitHash(commit)) throw new Error(`hub at ${endpoint} returned no commit hash for ${repoId}@${revision}`);

  // list the files at that commit and pick the ones asked for
  const listed: Array<{ path: string; size: number }> = [];
  try {
    for await (const entry of listFiles({ ...common, repo, revision: commit, recursive: true })) {
      if (entry.type === 'file') listed.push({ path: entry.path, size: entry.lfs?.size ?? entry.size });
    }
  } catch (e) {
    throw hubError(e, repoId, revision, endpoint, token, 'listing files');
  }
  let wanted = listed;
  const optional = opts.optionalFiles ?? [];
  if ((files && files.length) || optional.length) {
    const names = listed.map((l) => l.path);
    for (const f of files ?? []) {
      const re = isGlob(f) ? globToRegExp(f) : null;
      if (!names.some((n) => (re ? re.test(n) : n === f))) {
        throw new Error(`${repoId}@${revision} has no file ${re ? `matching '${f}'` : `'${f}'`} (it has: ${names.slice(0, 30).join(', ')}${names.length > 30 ? ', ...' : ''})`);
      }
    }
    const all = [...(files ?? []), ...optional].map((f) => (isGlob(f) ? globToRegExp(f) : f));
    wanted = listed.filter((l) => all.some((m) => (typeof m === 'string' ? l.path === m : m.test(l.path))));
  }

  const storage = path.join(cacheDir, repoFolderName(repoId, repoType));
  const snapshot = path.join(storage, 'snapshots', commit);
  fs.mkdirSync(snapshot, { recursive: true });
  await debugToStderr(async () => {
    for (const f of wanted) {
      let p: string;
      try {
        p = await downloadFileToCacheDir({ ...common, repo, path: f.path, revision: commit, cacheDir });
      } catch (e) {
        throw hubError(e, repoId, revision, endpoint, token, `downloading ${f.path}`);
      }
      verifySize(p, f.path, f.size, repoId);
    }
  });
  if (!isCommitHash(revision)) writeFileAtomic(path.join(storage, 'refs', revision), commit);
  return { dir: snapshot, commit, revision, source: 'download' };
}

/** A downloaded file must have the size the hub listed; otherwise remove it (and its blob) so no later run trusts it. */
function verifySize(pointer: string, rel: string, expected: number, repoId: string): void {
  const size = fs.statSync(pointer).size;
  if (size === expected) return;
  let blob: string | undefined;
  try {
    blob = fs.realpathSync(pointer);
  } catch { /* dangling */ }
  fs.rmSync(pointer, { force: true });
  if (blob && blob !== pointer) fs.rmSync(blob, { force: true });
  throw new Error(`download of ${repoId}/${rel} is incomplete (${size} of ${expected} bytes); removed it from the cache, run again to retry`);
}

/** Resolve one file of a repo (or local folder) to its local path. */
export async function resolveFile(repoId: string, filename: string, opts: Omit<ResolveOptions, 'files' | 'optionalFiles'> = {}): Promise<string> {
  const r = await resolveRepo(repoId, { ...opts, files: [filename] });
  return path.join(r.dir, filename);
}
