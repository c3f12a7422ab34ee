const tf = require('@tensorflow/tfjs');
const { initBackend } = require('/work/wt/model/dist/lib/backend');
const { HookedTransformer } = require('/work/wt/model/dist/lib/model');
(async () => {
  const info = await initBackend(); console.log(info.kind);
  const m = HookedTransformer.fromConfig({ n_layers: 2, d_model: 16, d_head: 4, n_heads: 4, d_vocab: 40, n_ctx: 16, act_fn: 'gelu_new' }, { seed: 1, trainable: true });
  const toks = tf.tensor2d([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]], [2, 5], 'int32');
  const r = m.runWithCache(toks, { returnType: 'both' });
  console.log(r.logits.shape, r.loss.dataSync(), r.cache.keys().length, r.cache.get('blocks.0.attn.hook_attn_scores').arraySync()[0][0][0]);
  r.cache.dispose(); r.logits.dispose(); r.loss.dispose();
  const before = tf.memory().numTensors;
  const g = tf.variableGrads(() => m.forward(toks, { returnType: 'loss' }).loss);
  console.log(Object.keys(g.grads).length, g.value.dataSync());
  const mask = tf.tensor2d([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], [2, 5], 'int32');
  const g2 = tf.variableGrads(() => m.forward(toks, { returnType: 'loss', attentionMask: mask }).loss);
  let bad = 0; for (const k in g2.grads) { const d = g2.grads[k].dataSync(); for (const x of d) if (!isFinite(x)) bad++; }
  console.log('nonfinite grads', bad, g2.value.dataSync());
  const c2 = m.runWithCache(toks, { attentionMask: mask, namesFilter: (n) => n.endsWith('pattern') });
  console.log(c2.cache.get('blocks.0.attn.hook_pattern').arraySync()[0][0]);
})();
