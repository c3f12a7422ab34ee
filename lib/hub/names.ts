/** Hub repo ids, revisions and file patterns: validation and matching, without the file system. */

export type RepoType = 'model' | 'dataset';

const COMMIT_RE = /^[0-9a-f]{40}$/;

/** True for a full 40-hex git commit hash. */
export function isCommitHash(rev: string): boolean {
  return COMMIT_RE.test(rev);
}

/** `models--org--name` / `datasets--org--name`, the folder name Python's huggingface_hub uses. */
export function repoFolderName(repoId: string, repoType: RepoType = 'model'): string {
  return [`${repoType}s`, ...repoId.split('/')].join('--');
}

/** Check a hub repo id: `name` or `org/name`, no path tricks. */
export function validateRepoId(repoId: string): void {
  const parts = repoId.split('/');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p) || p.includes('..'))) {
    throw new Error(`'${repoId}' is neither an existing local folder nor a hub repo id like 'gpt2' or 'org/name'`);
  }
}

/** Check a revision name before it is used as a path under refs/. */
export function validateRevision(revision: string): void {
  if (!revision || revision.split('/').some((p) => p === '' || p === '.' || p === '..') || revision.includes('\\')) {
    throw new Error(`invalid revision '${revision}': use a branch, tag or commit hash`);
  }
}

/**
 * Glob (fnmatch, as huggingface_hub's allow_patterns) to RegExp: `*` matches any run of characters
 * including '/', `?` one character, `[abc]` / `[!abc]` a set.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) { re += '\\['; continue; }
      let set = glob.slice(i + 1, close);
      if (set.startsWith('!')) set = '^' + set.slice(1);
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** True when the pattern uses glob syntax (else it names one file exactly). */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}


/** Replace every occurrence of a secret in a message (for errors that might echo request details). */
export function redact(message: string, secret: string | undefined): string {
  return secret ? message.split(secret).join('***') : message;
}
