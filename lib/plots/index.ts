/** saelab plots: Vega-Lite v5 spec builders (data inline). */
export * from './specs';
