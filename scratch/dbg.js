const tf = require('@tensorflow/tfjs');
const { initBackend } = require('../dist/lib/backend');
const { HookedTransformer, paramShapes } = require('../dist/lib/model');
(async () => {
  await initBackend(process.env.BE);
  const ib = HookedTransformer.fromConfig({ n_layers: 1, d_model: 8, d_head: 3, n_heads: 2, d_mlp: 5, d_vocab: 6, d_vocab_out: 4, n_ctx: 5, act_fn: 'relu', normalization_type: null });
  const sd = {}; let k = 0;
  for (const [name, shape] of paramShapes(ib.cfg)) sd[name] = tf.tensor(Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => ((k++ * 37) % 11) / 10 - 0.5), shape);
  ib.loadStateDict(sd);
  const tokens = tf.tensor2d([[0, 5, 2]], undefined, 'int32');
  const { cache } = ib.runWithCache(tokens);
  const e = tf.slice(sd['embed.W_E'], [0, 0], [1, -1]);
  const v = tf.add(tf.sum(tf.mul(tf.reshape(e, [1, -1, 1]), sd['blocks.0.attn.W_V']), 1), sd['blocks.0.attn.b_V']);
  v.print(); cache.get('blocks.0.attn.hook_v').slice([0,0,0,0],[1,1,-1,-1]).print(); cache.get('blocks.0.attn.hook_z').slice([0,0,0,0],[1,1,-1,-1]).print();
  cache.get('blocks.0.attn.hook_pattern').print();
})();
