import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SAELAB_ROOT } from '../version';

/** The hub's default base URL (Python's huggingface_hub default too). */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** Base URL of the hub: $HF_ENDPOINT (as Python's huggingface_hub reads it), else huggingface.co. */
export function hubEndpoint(): string {
  const e = process.env.HF_ENDPOINT;
  return (e && e.trim() ? e.trim() : DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

function hfHome(): string {
  return process.env.HF_HOME || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
}

/** The user's hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (shared with Python). */
export function hubCacheDir(): string {
  return process.env.HF_HUB_CACHE || process.env.HUGGINGFACE_HUB_CACHE || path.join(hfHome(), 'hub');
}

/** The read-only cache shipped inside the saelab repository (data/hub), in the same layout. */
export function shippedCacheDir(): string {
  return process.env.SAELAB_SHIPPED_HUB_CACHE ? path.resolve(process.env.SAELAB_SHIPPED_HUB_CACHE) : path.join(SAELAB_ROOT, 'data', 'hub');
}

/** True when HF_HUB_OFFLINE asks for cached files only. */
export function hubOffline(): boolean {
  const v = (process.env.HF_HUB_OFFLINE || '').trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

/**
 * The access token: $HF_TOKEN, else the file Python's `huggingface-cli login` writes
 * ($HF_TOKEN_PATH or $HF_HOME/token). Never log or print it.
 */
export function hubToken(): string | undefined {
  const env = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  if (env && env.trim()) return env.trim();
  const file = process.env.HF_TOKEN_PATH || path.join(hfHome(), 'token');
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

export { redact } from './names';
