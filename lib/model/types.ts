import * as tf from '@tensorflow/tfjs';

/**
 * The hook API shared by the model, SAEs, training and analysis code. Names and semantics follow
 * TransformerLens: hook names like `blocks.6.hook_resid_pre`; a hook function sees the activation
 * and may return a replacement of the same shape.
 */
export interface HookContext {
  /** full hook name, e.g. blocks.3.attn.hook_z */
  name: string;
}

/** A forward hook: return a tensor to replace the activation, or nothing to leave it unchanged. */
export type HookFn = (activation: tf.Tensor, hook: HookContext) => tf.Tensor | void;

/** Selects hooks: an exact hook name or a predicate over names. */
export type HookSelector = string | ((name: string) => boolean);

export type ReturnType = 'logits' | 'loss' | 'both' | 'none';

export interface ForwardOptions {
  /** hooks applied in order during this forward pass */
  fwdHooks?: Array<[HookSelector, HookFn]>;
  /**
   * TransformerLens semantics: run the embedding and blocks 0..stopAtLayer-1 only, then stop
   * (no logits). stopAtLayer = L + 1 is enough to read blocks.L.hook_resid_post.
   */
  stopAtLayer?: number;
  /**
   * TransformerLens's start_at_layer: skip the embedding and blocks 0..startAtLayer-1 and run from
   * `residual` [batch, pos, d_model], the residual stream entering block startAtLayer (the value of
   * blocks.<startAtLayer>.hook_resid_pre). The tokens still give the shape, positions and loss targets.
   */
  startAtLayer?: number;
  /** the residual stream entering block startAtLayer (default 0); given, the embeddings are skipped */
  residual?: tf.Tensor;
  /** default 'logits' */
  returnType?: ReturnType;
  /** with a loss: per-token loss [batch, pos - 1] instead of the mean */
  lossPerToken?: boolean;
  /** [batch, pos], 1 for real tokens and 0 for padding */
  attentionMask?: tf.Tensor2D;
  /** split the batch so one pass sees at most this many tokens (rows are kept whole) */
  maxBatchTokens?: number;
  /**
   * transformers' logits_to_keep: unembed only the last N positions, so logits are [batch, N, d_vocab_out]
   * (ln_final's hooks see those positions only). Not with a loss. Default: every position.
   */
  logitsToKeep?: number;
}

export interface ForwardResult {
  /** [batch, pos, d_vocab_out] */
  logits?: tf.Tensor3D;
  /** scalar mean next-token CE, or [batch, pos - 1] with lossPerToken */
  loss?: tf.Tensor;
}

export interface RunWithCacheOptions extends ForwardOptions {
  /** which hooks to cache: a name, a list of names, or a predicate; default all */
  namesFilter?: HookSelector | string[];
}
