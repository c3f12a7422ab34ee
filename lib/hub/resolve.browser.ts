/**
 * Hub resolution in a browser (resolve.ts in Node fills and reads the cache folder): a repo id and
 * revision become the URL of the repo's files under the configured endpoint (configureHub); a URL
 * or a path (`./models/x`, `/x`, `https://...`) is a folder of files as is. Files are fetched by the
 * loaders that need them (lib/hub/http.ts).
 */
import type * as NodeResolve from './resolve';
import { hubEndpoint } from './env';
import { validateRepoId, validateRevision } from './names';
import { hubFileUrl, joinUrl } from './http';

export type { ResolveOptions, ResolvedRepo } from './resolve';

/** True for an absolute URL or a path relative to the page, as opposed to a hub repo id. */
function isUrlLike(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('/') || s.startsWith('./') || s.startsWith('../');
}

function absolute(url: string): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return base ? new URL(url, base).href : url;
}

export const resolveRepo: typeof NodeResolve.resolveRepo = async (repoId, opts = {}) => {
  if (isUrlLike(repoId)) return { dir: absolute(repoId).replace(/\/+$/, ''), commit: '', revision: 'local', source: 'local' };
  validateRepoId(repoId);
  const revision = opts.revision ?? 'main';
  validateRevision(revision);
  const endpoint = absolute(opts.endpoint ?? hubEndpoint());
  const dir = hubFileUrl(endpoint, repoId, '', { revision, repoType: opts.repoType }).replace(/\/$/, '');
  return { dir, commit: '', revision, source: 'download' };
};

export const resolveFile: typeof NodeResolve.resolveFile = async (repoId, filename, opts = {}) => joinUrl((await resolveRepo(repoId, opts)).dir, filename);
