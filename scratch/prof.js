const tf = require('@tensorflow/tfjs');
const { initBackend } = require('../dist/lib/backend');
const { HookedTransformer } = require('../dist/lib/model');
(async () => {
  await initBackend();
  const model = HookedTransformer.fromConfig({ n_layers: Number(process.env.L||1), d_model: 768, d_head: 64, n_heads: 12, d_mlp: 3072, d_vocab: Number(process.env.V||2000), n_ctx: 1024, act_fn: 'gelu_new' }, { seed: 0 });
  const tokens = tf.zeros([8, 128], 'int32');
  model.forward(tokens).logits.dispose();
  const byName = {};
  const orig = tf.engine().backend;
  const info = await tf.profile(() => { const r = model.runWithCache(tokens, { namesFilter: 'blocks.0.hook_resid_pre' }); r.cache.dispose(); return r.logits; });
  for (const k of info.kernels) { const t = await k.kernelTimeMs; byName[k.name] = (byName[k.name] || 0) + (typeof t === 'number' ? t : 0); }
  console.log(Object.entries(byName).sort((a, b) => b[1] - a[1]).slice(0, 15));
})();
