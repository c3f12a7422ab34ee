#!/usr/bin/env python3
"""Check a saved case-3 model folder with torch alone (not run by tests).

    /usr/bin/python3 tools/check_interpbench_model.py data/interpbench/3

torch.load's the state_dict, pickle.load's the config dict, checks the keys are exactly those
TransformerLens's HookedTransformer(cfg) has (strict load_state_dict, buffers included), runs the
reference forward (tools/tl_reference.py) on the 320 case-3 inputs and reports the task accuracy
with labels computed here.
"""
import itertools
import pickle
import sys

import torch

from tl_reference import forward

d = sys.argv[1]
sd = torch.load(f'{d}/ll_model.pth')
cfg = pickle.load(open(f'{d}/ll_model_cfg.pkl', 'rb'))
print('config:', {k: cfg[k] for k in ['n_layers', 'd_model', 'n_heads', 'd_head', 'd_mlp', 'act_fn', 'normalization_type', 'd_vocab', 'd_vocab_out', 'n_ctx', 'dtype']})
L = cfg['n_layers']
want = ['embed.W_E', 'pos_embed.W_pos', 'unembed.W_U', 'unembed.b_U']
for l in range(L):
    want += [f'blocks.{l}.attn.{n}' for n in ['W_Q', 'W_K', 'W_V', 'W_O', 'b_Q', 'b_K', 'b_V', 'b_O', 'mask', 'IGNORE']]
    want += [f'blocks.{l}.mlp.{n}' for n in ['W_in', 'b_in', 'W_out', 'b_out']]
assert sorted(sd.keys()) == sorted(want), set(sd.keys()) ^ set(want)
assert sd['blocks.0.attn.mask'].dtype == torch.bool and torch.equal(sd['blocks.0.attn.mask'], torch.tril(torch.ones(5, 5, dtype=torch.bool)))
assert sd['embed.W_E'].shape == (cfg['d_vocab'], cfg['d_model']) and sd['unembed.W_U'].shape == (cfg['d_model'], cfg['d_vocab_out'])
seqs = []
for n in (3, 4):
    for combo in itertools.product([2, 3, 4, 5], repeat=n):
        s = [0, *combo]
        seqs.append(s + [1] * (5 - len(s)))
tokens = torch.tensor(seqs)
logits, _ = forward(sd, tokens, L, cfg['d_head'], cfg['act_fn'])
pred = logits[..., 0]
correct = total = 0
worst = 0.0
for b, s in enumerate(seqs):
    xs = 0
    for i in range(1, 5):
        if s[i] == 1:
            break
        xs += s[i] == 5
        err = abs(pred[b, i].item() - xs / i)
        worst = max(worst, err)
        correct += err < 0.05
        total += 1
print(f'torch reference forward: accuracy {correct}/{total} = {correct / total:.4f}, max error {worst:.4f}')
