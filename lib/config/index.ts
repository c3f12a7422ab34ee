/**
 * Config mechanics shared by every config section (the experiment config in lib/stages/config.ts and the
 * sections other modules own, such as lib/checkpoints/config.ts): defaults merged with key and type
 * errors, and a stable hash of a config value.
 */
export * from './schema';
export * from './hash';
