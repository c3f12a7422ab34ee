/**
 * saelab's native CPU backend (a Node-API addon over BLAS, registered as `native`).
 * Placeholder until the addon lands: reports that it is not built.
 */
export function tryRegisterNative(): { ok: boolean; reason: string } {
  return { ok: false, reason: 'the native addon is not part of this build' };
}
