/**
 * Hub files over HTTP with the platform's fetch (a browser, or Node 20): the hub's URL layout
 * `{endpoint}/[datasets/]{repo}/resolve/{revision}/{file}`, which a hub mirror or a static folder
 * laid out the same way also answers. No file system.
 */
import { RepoType, redact } from './names';

/** URL of one file of a hub repo at a revision (branch, tag or commit). */
export function hubFileUrl(endpoint: string, repoId: string, file: string, opts: { revision?: string; repoType?: RepoType } = {}): string {
  const base = endpoint.replace(/\/+$/, '');
  const prefix = opts.repoType === 'dataset' ? 'datasets/' : '';
  return `${base}/${prefix}${repoId}/resolve/${encodeURIComponent(opts.revision ?? 'main')}/${encodePath(file)}`;
}

/** A folder URL joined with a relative file path (each segment URL-encoded). */
export function joinUrl(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${encodePath(file)}`;
}

function encodePath(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

export interface FetchFileOptions {
  /** sent as `Authorization: Bearer <token>`; never part of an error message */
  token?: string;
  /** resolve to undefined on HTTP 404 instead of throwing (files a repo may or may not have) */
  optional?: boolean;
}

async function get(url: string, opts: FetchFileOptions): Promise<Response | undefined> {
  let res: Response;
  try {
    res = await fetch(url, opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : undefined);
  } catch (e) {
    throw new Error(`cannot fetch ${url} (${redact(String((e as Error)?.message ?? e), opts.token)}): is the server up, and does it allow this page's origin (CORS)?`);
  }
  if (res.status === 404 && opts.optional) return undefined;
  if (!res.ok) {
    const hint = res.status === 404 ? ': no such file (check the repo id, revision and file name, and the hub base URL)'
      : res.status === 401 || res.status === 403 ? ': access denied (a gated or private repo needs a token with read access)' : '';
    throw new Error(`GET ${url} failed with HTTP ${res.status}${hint}`);
  }
  return res;
}

/** The bytes of a file (undefined for a missing optional file). */
export async function fetchBytes(url: string, opts: FetchFileOptions & { optional: true }): Promise<ArrayBuffer | undefined>;
export async function fetchBytes(url: string, opts?: FetchFileOptions): Promise<ArrayBuffer>;
export async function fetchBytes(url: string, opts: FetchFileOptions = {}): Promise<ArrayBuffer | undefined> {
  const res = await get(url, opts);
  return res ? res.arrayBuffer() : undefined;
}

/** A JSON file parsed (undefined for a missing optional file); errors name the URL. */
export async function fetchJson(url: string, opts: FetchFileOptions & { optional: true }): Promise<Record<string, any> | undefined>;
export async function fetchJson(url: string, opts?: FetchFileOptions): Promise<Record<string, any>>;
export async function fetchJson(url: string, opts: FetchFileOptions = {}): Promise<Record<string, any> | undefined> {
  const res = await get(url, opts);
  if (!res) return undefined;
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${url}: not valid JSON (${(e as Error).message}); is the URL a file of the repo, or an error page?`);
  }
}
