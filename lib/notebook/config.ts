/** The experiment config moved to lib/stages/config.ts; this path keeps older imports working. */
export * from '../stages/config';
