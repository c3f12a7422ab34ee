/**
 * Writing stand-in repos into a hub cache folder (Python huggingface_hub's layout:
 * `<cache>/<models|datasets>--org--name/snapshots/<commit>/...` and `refs/<revision>`), file by file,
 * each file written to a temporary name and renamed, refs written last, so a repo becomes visible
 * only when complete and an interrupted run resumes where it stopped.
 *
 * Each snapshot carries `.saelab-standin.json` (what made it). A repo whose revision already points
 * at a snapshot without that marker (a real download) is never touched.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { RepoType, repoFolderName, validateRepoId } from '../hub/cache';

export const STANDIN_MARKER = '.saelab-standin.json';
/** Bump when the generator changes what it writes (new commit hashes). */
export const STANDIN_FORMAT = 1;

/** One file of a stand-in repo: its path in the repo, its size (for the plan) and how to write it to a final path atomically. */
export interface RepoFile {
  path: string;
  bytes: number;
  write(dest: string): void | Promise<void>;
}

export interface RepoWrite {
  cacheRoot: string;
  repoId: string;
  repoType: RepoType;
  revision: string;
  /** everything that decides the contents (hashed into the commit) */
  identity: unknown;
  files: RepoFile[];
}

/** The commit hash of a stand-in: sha1 over what decides its contents. */
export function standinCommit(w: Pick<RepoWrite, 'repoId' | 'repoType' | 'identity'>): string {
  return crypto.createHash('sha1').update(JSON.stringify({ format: STANDIN_FORMAT, repo: w.repoId, type: w.repoType, identity: w.identity })).digest('hex');
}

function storageDir(w: Pick<RepoWrite, 'cacheRoot' | 'repoId' | 'repoType'>): string {
  return path.join(w.cacheRoot, repoFolderName(w.repoId, w.repoType));
}

/** Refuse to touch a revision that points at something saelab did not make. */
function checkNotReal(w: RepoWrite, commit: string): string | null {
  const ref = path.join(storageDir(w), 'refs', w.revision);
  if (!fs.existsSync(ref)) return null;
  const current = fs.readFileSync(ref, 'utf8').trim();
  if (current === commit) return null;
  const snap = path.join(storageDir(w), 'snapshots', current);
  if (fs.existsSync(snap) && !fs.existsSync(path.join(snap, STANDIN_MARKER))) {
    throw new Error(`${w.cacheRoot} already holds ${w.repoType} ${w.repoId}@${w.revision} (snapshot ${current}) and it is not a saelab stand-in: ` +
      'it is left untouched; choose another --hub-cache folder for stand-ins');
  }
  return current;
}

/** Files of a plan not yet present in the snapshot (what a run would still write). */
export function missingFiles(w: RepoWrite): RepoFile[] {
  const snap = path.join(storageDir(w), 'snapshots', standinCommit(w));
  return w.files.filter((f) => !fs.existsSync(path.join(snap, f.path)));
}

/**
 * Write the repo's missing files, the marker, then refs/<revision>. A previous stand-in snapshot the
 * revision pointed at is removed when no other ref uses it. Returns the snapshot folder.
 */
export async function writeStandinRepo(w: RepoWrite, onFile?: (f: RepoFile) => void): Promise<string> {
  validateRepoId(w.repoId);
  const commit = standinCommit(w);
  const previous = checkNotReal(w, commit);
  const storage = storageDir(w);
  const snap = path.join(storage, 'snapshots', commit);
  fs.mkdirSync(snap, { recursive: true });
  for (const f of w.files) {
    const dest = path.join(snap, f.path);
    if (!fs.existsSync(dest)) {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      await f.write(dest);
      if (!fs.existsSync(dest)) throw new Error(`stand-in ${w.repoId}: writing ${f.path} produced no file`);
    }
    onFile?.(f);
  }
  const markerFile = path.join(snap, STANDIN_MARKER);
  const listed = fs.existsSync(markerFile) ? (JSON.parse(fs.readFileSync(markerFile, 'utf8')).files as string[] | undefined) ?? [] : [];
  const files = [...new Set([...listed, ...w.files.map((f) => f.path)])].sort();
  writeJsonAtomic(markerFile, { madeBy: 'saelab make-standins', format: STANDIN_FORMAT, repo: w.repoId, type: w.repoType, identity: w.identity, files });
  writeFileAtomic(path.join(storage, 'refs', w.revision), commit);
  if (previous && previous !== commit) removeUnreferenced(storage, previous);
  return snap;
}

/** Remove a stand-in snapshot no ref points at any more. */
function removeUnreferenced(storage: string, commit: string): void {
  const refs = path.join(storage, 'refs');
  const used = fs.readdirSync(refs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .some((e) => fs.readFileSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name), 'utf8').trim() === commit);
  const snap = path.join(storage, 'snapshots', commit);
  if (!used && fs.existsSync(path.join(snap, STANDIN_MARKER))) fs.rmSync(snap, { recursive: true, force: true });
}

/** A small text file as a repo file. */
export function textFile(p: string, text: string): RepoFile {
  return { path: p, bytes: Buffer.byteLength(text), write: (dest) => writeFileAtomic(dest, text) };
}
