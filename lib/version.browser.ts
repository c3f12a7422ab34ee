/** saelab's version in a browser bundle (version.ts reads package.json in Node); the bundler defines it. */
declare const SAELAB_BUILD_VERSION: string | undefined;

export const SAELAB_VERSION: string = typeof SAELAB_BUILD_VERSION === 'string' ? SAELAB_BUILD_VERSION : 'unknown';
