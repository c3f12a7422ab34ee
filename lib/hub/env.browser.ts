/**
 * The hub settings in a browser (env.ts reads them from environment variables in Node): the base
 * URL files are fetched from and an optional token, set with configureHub. There is no cache folder;
 * the browser's HTTP cache keeps what was fetched.
 */
import type * as NodeEnv from './env';

export { redact } from './names';

/** The hub's default base URL. */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';

const settings: { endpoint: string; token?: string } = { endpoint: DEFAULT_ENDPOINT };

/**
 * Where hub repos are fetched from in this page: the hub itself, a mirror, or a static folder with
 * the hub's layout (`<endpoint>/<repo>/resolve/<revision>/<file>`), and the token to send.
 */
export function configureHub(opts: { endpoint?: string; token?: string }): void {
  if (opts.endpoint !== undefined) settings.endpoint = opts.endpoint.replace(/\/+$/, '');
  if (opts.token !== undefined) settings.token = opts.token || undefined;
}

export const hubEndpoint: typeof NodeEnv.hubEndpoint = () => settings.endpoint;

export const hubCacheDir: typeof NodeEnv.hubCacheDir = () => {
  throw new Error(`a browser has no hub cache folder: files are fetched from ${settings.endpoint}`);
};

export const shippedCacheDir: typeof NodeEnv.shippedCacheDir = () => {
  throw new Error(`a browser has no shipped hub cache: files are fetched from ${settings.endpoint}`);
};

export const hubOffline: typeof NodeEnv.hubOffline = () => false;

export const hubToken: typeof NodeEnv.hubToken = () => settings.token;
