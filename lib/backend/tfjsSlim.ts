/**
 * What saelab's browser bundle uses of @tensorflow/tfjs: tfjs-core with the cpu and WebGL backends,
 * without layers, converter and data (a fifth of the bundle). The bundler aliases
 * '@tensorflow/tfjs' to this file; a use of anything else fails the bundle (an undefined import).
 */
export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
