import * as tf from '@tensorflow/tfjs';
import { HookedTransformerConfig, HookedTransformerConfigInput } from '../config';
import { StateDict } from '../params';

/** A Hugging Face config.json, as parsed. */
export type HfConfig = Record<string, any>;

/** Tensor source over a checkpoint: names and a float32 reader. */
export interface TensorSource {
  has(name: string): boolean;
  /** read as float32 tfjs tensor (caller disposes) */
  get(name: string): tf.Tensor;
  names(): string[];
}

/** What a family's config conversion gets. */
export interface ConfigReader {
  hf: HfConfig;
  /** the config file, for error messages */
  file: string;
  /** a numeric field the family needs (an error naming the file and field when it is missing) */
  n(key: string): number;
  /** model_name and tokenizer_name */
  base: { model_name: string; tokenizer_name: string };
}

/** What a family's weight conversion gets: the checkpoint, and the TransformerLens state dict it fills. */
export interface WeightReader {
  cfg: HookedTransformerConfig;
  hf: HfConfig;
  src: TensorSource;
  sd: StateDict;
  /** read a tensor, transform it inside tidy and dispose the raw tensor (peak memory near one copy of the weights) */
  conv(name: string, f?: (t: tf.Tensor) => tf.Tensor): tf.Tensor;
  zeros(shape: number[]): tf.Tensor;
}

/**
 * A model family: one Hugging Face `model_type`, converted as TransformerLens 2.x's
 * loading_from_pretrained (config) and pretrained/weight_conversions (weights) do. One file per family in
 * lib/model/families/, listed in MODEL_FAMILIES (families/index.ts). The weights come in three parts
 * (embedding, one block, unembedding) so a model can be read part by part.
 */
export interface ModelFamily {
  /** config.json's model_type */
  modelType: string;
  /** whether `architectures[0]` names this family (read when model_type is missing) */
  matchesArchitecture(architecture: string): boolean;
  /** config.json -> HookedTransformerConfig fields (TransformerLens's convert_hf_model_config) */
  config(r: ConfigReader): HookedTransformerConfigInput;
  /** embed.W_E (and pos_embed.W_pos) */
  embed(w: WeightReader): void;
  /** every blocks.<layer>.* parameter */
  block(w: WeightReader, layer: number): void;
  /** ln_final.* and unembed.* */
  unembed(w: WeightReader): void;
}

/** [h*dh, d] (torch Linear rows per head) -> [h, d, dh]. */
export function linearRowsToHeads(w: tf.Tensor, h: number): tf.Tensor {
  const [rows, d] = w.shape;
  return tf.transpose(tf.reshape(w, [h, rows / h, d]), [0, 2, 1]);
}

/** torch Linear o_proj [d, h*dh] -> W_O [h, dh, d]. */
export function outProjToHeads(w: tf.Tensor, h: number): tf.Tensor {
  const [d, cols] = w.shape;
  return tf.transpose(tf.reshape(w, [d, h, cols / h]), [1, 2, 0]);
}
