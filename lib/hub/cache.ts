import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeDirAtomic, writeFileAtomic } from '../io/atomic';
import { RepoType, globToRegExp, isCommitHash, isGlob, repoFolderName, validateRepoId, validateRevision } from './names';

export { RepoType, globToRegExp, isCommitHash, isGlob, repoFolderName, validateRepoId, validateRevision } from './names';

/** A snapshot found in a cache folder. */
export interface CachedSnapshot {
  dir: string;
  commit: string;
  cacheRoot: string;
}

/**
 * Look a revision up in one cache root: refs/<revision> (or the commit itself) -> snapshots/<commit>.
 * With `files` (required files), every exact name must be present and every glob must match at least
 * one file; without, the snapshot folder must be non-empty. Links to missing blobs do not count.
 */
export function findCachedSnapshot(cacheRoot: string, repoId: string, repoType: RepoType, revision: string, files?: string[]): CachedSnapshot | undefined {
  const storage = path.join(cacheRoot, repoFolderName(repoId, repoType));
  let commit: string | undefined;
  if (isCommitHash(revision)) commit = revision;
  else {
    try {
      commit = fs.readFileSync(path.join(storage, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (!isCommitHash(commit)) return undefined;
  }
  const dir = path.join(storage, 'snapshots', commit);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  if (files && files.length) {
    const present = listSnapshotFiles(dir);
    for (const f of files) {
      if (isGlob(f)) {
        const re = globToRegExp(f);
        if (!present.some((p) => re.test(p))) return undefined;
      } else if (!present.includes(f)) return undefined;
    }
  } else if (entries.length === 0) return undefined;
  return { dir, commit, cacheRoot };
}

/** Files (relative paths) under a snapshot folder, following symlinks to blobs. */
export function listSnapshotFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    let st: fs.Stats;
    try {
      st = fs.statSync(path.join(dir, rel));
    } catch {
      continue; // a dangling link to a removed blob is not a file
    }
    if (st.isDirectory()) out.push(...listSnapshotFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Place files into a cache root in the hub cache layout with a deterministic commit hash:
 * `<root>/<models|datasets>--org--name/snapshots/<commit>/<file>` (plain copies, not blob links) and
 * `refs/<revision>` holding the commit. The commit is sha1 over the sorted file names and the sha1 of
 * each file's bytes, so the same contents always give the same snapshot folder.
 * `files` maps a path inside the repo to a source file path (string) or the bytes themselves.
 */
export async function writeShippedRepo(
  cacheRoot: string,
  repoId: string,
  revision: string,
  files: Record<string, string | Uint8Array>,
  opts: { repoType?: RepoType } = {},
): Promise<{ dir: string; commit: string }> {
  validateRepoId(repoId);
  validateRevision(revision);
  if (isCommitHash(revision)) throw new Error(`writeShippedRepo: revision '${revision}' must be a branch or tag name, not a commit hash`);
  const contents = new Map<string, Uint8Array>();
  for (const rel of Object.keys(files).sort()) {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).some((p) => p === '..' || p === '')) throw new Error(`writeShippedRepo: bad file path '${rel}' in repo ${repoId}`);
    const src = files[rel];
    contents.set(rel, typeof src === 'string' ? fs.readFileSync(src) : src);
  }
  const h = crypto.createHash('sha1');
  for (const [rel, bytes] of contents) h.update(`${rel}\0${crypto.createHash('sha1').update(bytes).digest('hex')}\n`);
  const commit = h.digest('hex');
  const storage = path.join(cacheRoot, repoFolderName(repoId, opts.repoType ?? 'model'));
  const dir = path.join(storage, 'snapshots', commit);
  await writeDirAtomic(dir, (tmp) => {
    for (const [rel, bytes] of contents) {
      fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
      fs.writeFileSync(path.join(tmp, rel), bytes);
    }
  });
  writeFileAtomic(path.join(storage, 'refs', revision), commit);
  return { dir, commit };
}
