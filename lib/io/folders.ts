/**
 * Folders saelab may write into, replace or delete: only those it created. A folder saelab creates for
 * a run, a command's output or resumable state carries a marker file; a non-empty folder without it
 * (a user's folder, `--state-dir ~`) is refused with a clear message and left untouched. Also: names
 * that become path components, and the temporaries (`*.tmp-PID-*`) a killed run leaves behind.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, FolderError } from './errors';

/** The marker file of a folder saelab created (its content says what the folder is for). */
export const FOLDER_MARKER = '.saelab-folder';

/** True when `dir` carries saelab's marker. */
export function isSaelabFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, FOLDER_MARKER));
}

function isEmptyFolder(dir: string): boolean {
  return fs.readdirSync(dir).length === 0;
}

/** `adopted`: the folder existed (empty) before saelab marked it, so removing it later keeps the folder itself. */
function writeMarker(dir: string, purpose: string, adopted: boolean): void {
  fs.writeFileSync(path.join(dir, FOLDER_MARKER), JSON.stringify({ created_by: 'saelab', purpose, ...(adopted ? { adopted } : {}) }) + '\n');
}

export interface ClaimOptions {
  /**
   * Recognises a folder written by an earlier saelab without markers (e.g. a run folder holding stage
   * manifests); such a folder is accepted and marked.
   */
  recognize?: (dir: string) => boolean;
}

/**
 * Make `dir` a folder saelab may write into, replace files in and later delete: a missing folder is
 * created (parents too) and marked, an empty one is marked, a marked one is accepted; a non-empty folder
 * without the marker is refused with a FolderError naming it and `purpose` (e.g. "the --out folder").
 * Returns `dir`.
 */
export function claimFolder(dir: string, purpose: string, opts: ClaimOptions = {}): string {
  const existed = fs.existsSync(dir);
  if (existed) {
    if (!fs.statSync(dir).isDirectory()) throw new FolderError(`${dir}: ${purpose} must be a folder, but this is a file`);
    if (isSaelabFolder(dir)) return dir;
    if (!isEmptyFolder(dir) && !(opts.recognize?.(dir) ?? false)) {
      const some = fs.readdirSync(dir).slice(0, 5).join(', ');
      throw new FolderError(`${dir}: ${purpose} is not empty and was not created by saelab (it holds ${some}${fs.readdirSync(dir).length > 5 ? ', ...' : ''}); ` +
        `saelab never writes into or deletes a folder it did not create: choose a new or empty folder`);
    }
  } else {
    fs.mkdirSync(dir, { recursive: true });
  }
  writeMarker(dir, purpose, existed);
  return dir;
}

/**
 * Delete a folder saelab created (recursively); refuses (FolderError) a non-empty folder without the
 * marker. A folder that existed (empty) before saelab marked it is emptied but kept.
 */
export function removeSaelabFolder(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new FolderError(`${dir}: not a folder; saelab only removes folders it created`);
  if (!isSaelabFolder(dir) && !isEmptyFolder(dir)) throw new FolderError(`${dir}: not removed: it was not created by saelab (no ${FOLDER_MARKER} marker)`);
  let adopted = false;
  try {
    adopted = (JSON.parse(fs.readFileSync(path.join(dir, FOLDER_MARKER), 'utf8')) as { adopted?: unknown }).adopted === true;
  } catch {
    adopted = false;
  }
  if (!adopted) {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}

/** `name.tmp-PID-xxxxxx` (files from writeFileAtomic and stream writers, folders from writeDirAtomic, with `.old` while swapping). */
const TEMP_NAME = /\.tmp-(\d+)-[a-z0-9]+(\.old)?$/;

/** True when a process with this id runs on this machine (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporaries in `dir` (not recursive) left by processes that no longer run: a killed or
 * crashed writer's `*.tmp-PID-*` files and folders. Those of live processes are kept. Returns the removed paths.
 */
export function removeStaleTemps(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = TEMP_NAME.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/**
 * Check a name that becomes one path component (a run name, a config "name", a checkpoint label):
 * letters, digits, '.', '_' and '-', not '.' or '..'. Returns the name; throws a ConfigError naming `what`.
 */
export function validatePathName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name) || /^\.+$/.test(name)) {
    throw new ConfigError(`${what} ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-' (and not '.' or '..'): it names a folder`);
  }
  return name;
}

/** Scratch folders to remove when the process ends (see removeOnExit). */
const exitRemovals = new Set<string>();
/** Signals that end the process after its scratch folders are removed (unless something else handles them). */
const CLEANUP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

function removeScratchNow(): void {
  for (const dir of exitRemovals) fs.rmSync(dir, { recursive: true, force: true });
  exitRemovals.clear();
}

/**
 * A SIGTERM / SIGINT with no other listener: remove the scratch folders, then end with the conventional
 * status 128 + signal number (143, 130), as the default action's shell status. Where something else
 * handles the signal (a notebook kernel's interrupt counter, a server's shutdown) it is left to it.
 */
function onCleanupSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removeScratchNow();
  process.exit(128 + (os.constants.signals[signal] ?? 0));
}

/**
 * Remove the scratch folder `dir` (one saelab created, e.g. with mkdtemp) when the process ends: at a
 * normal exit, and on SIGTERM (a SLURM time limit, `kill`) or SIGINT (Ctrl-C), after which the process
 * exits with 128 + the signal's number. Nothing else is removed. Returns the function that removes `dir`
 * now and forgets it (call it where the work ends normally); the signal handlers go when no folder is left.
 * (A SIGKILL cannot be caught: it leaves the folder.)
 */
export function removeOnExit(dir: string): () => void {
  if (exitRemovals.size === 0) {
    process.on('exit', removeScratchNow);
    for (const s of CLEANUP_SIGNALS) process.on(s, onCleanupSignal);
  }
  exitRemovals.add(dir);
  return () => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (!exitRemovals.delete(dir) || exitRemovals.size > 0) return;
    process.removeListener('exit', removeScratchNow);
    for (const s of CLEANUP_SIGNALS) process.removeListener(s, onCleanupSignal);
  };
}
