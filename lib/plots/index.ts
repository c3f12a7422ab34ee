/** saelab plots: Vega-Lite v5 spec builders (data inline) and rendering. */
export * from './specs';
export * from './render';
export * from './table';
