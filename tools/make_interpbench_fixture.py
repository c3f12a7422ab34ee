#!/usr/bin/env python3
"""Tiny models in InterpBench's file layout, with reference activations from an independent torch forward.

    /usr/bin/python3 tools/make_interpbench_fixture.py

Writes test/fixtures/torch/interpbench_case3_like/ (the case-3 architecture: 2 layers, 4 heads, d_head 3,
d_model 12, d_mlp 48, gelu, no LayerNorm, d_vocab 6, d_vocab_out 1, n_ctx 5; config as a dict) and
test/fixtures/torch/interpbench_relu/ (1 layer, d_model 10, 3 heads of d_head 4, relu, d_vocab_out 2,
config pickled as a HookedTransformerConfig object with missing keys left to TransformerLens's
defaults). Each folder: ll_model.pth (torch.save of the state_dict with TransformerLens names,
including the attn.mask / attn.IGNORE buffers), ll_model_cfg.pkl, expected.json (tokens, logits and
hook activations computed below in float64 with TransformerLens's formulas).
"""
import collections
import dataclasses
import json
import math
import os
import pickle
import sys
import types

import numpy as np
import torch

from tl_reference import forward

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')


def make_state_dict(L, d, h, dh, dm, V, Vout, n_ctx, gen):
    sd = collections.OrderedDict()
    r = lambda *s, scale=0.3: (torch.randn(*s, generator=gen) * scale).float()
    sd['embed.W_E'] = r(V, d)
    sd['pos_embed.W_pos'] = r(n_ctx, d)
    for l in range(L):
        b = f'blocks.{l}'
        sd[f'{b}.attn.W_Q'] = r(h, d, dh)
        sd[f'{b}.attn.W_K'] = r(h, d, dh)
        sd[f'{b}.attn.W_V'] = r(h, d, dh)
        sd[f'{b}.attn.W_O'] = r(h, dh, d)
        sd[f'{b}.attn.b_Q'] = r(h, dh, scale=0.1)
        sd[f'{b}.attn.b_K'] = r(h, dh, scale=0.1)
        sd[f'{b}.attn.b_V'] = r(h, dh, scale=0.1)
        sd[f'{b}.attn.b_O'] = r(d, scale=0.1)
        sd[f'{b}.attn.mask'] = torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool))
        sd[f'{b}.attn.IGNORE'] = torch.tensor(-float('inf'))
        sd[f'{b}.mlp.W_in'] = r(d, dm)
        sd[f'{b}.mlp.b_in'] = r(dm, scale=0.1)
        sd[f'{b}.mlp.W_out'] = r(dm, d, scale=0.2)
        sd[f'{b}.mlp.b_out'] = r(d, scale=0.1)
    sd['unembed.W_U'] = r(d, Vout)
    sd['unembed.b_U'] = r(Vout, scale=0.1)
    return sd


def write(folder, sd, cfg_obj, tokens, L, dh, act, hooks):
    out = os.path.join(ROOT, folder)
    os.makedirs(out, exist_ok=True)
    torch.save(sd, os.path.join(out, 'll_model.pth'))
    with open(os.path.join(out, 'll_model_cfg.pkl'), 'wb') as f:
        pickle.dump(cfg_obj, f)
    logits, cache = forward(sd, tokens, L, dh, act)
    exp = {'tokens': tokens.tolist(), 'logits': {'shape': list(logits.shape), 'values': logits.flatten().tolist()}}
    for hname in hooks:  # activations of the first 8 sequences keep the fixture small
        a = cache[hname][:8]
        exp[hname] = {'shape': list(a.shape), 'values': [round(x, 9) for x in a.flatten().tolist()]}
    exp['logits']['values'] = [round(x, 9) for x in exp['logits']['values']]
    with open(os.path.join(out, 'expected.json'), 'w') as f:
        json.dump(exp, f)


# the case-3 architecture, config dict like InterpBench's (numpy scalars, torch dtype, device 'cuda')
gen = torch.Generator().manual_seed(3)
sd3 = make_state_dict(2, 12, 4, 3, 48, 6, 1, 5, gen)
cfg3 = {
    'n_layers': 2, 'd_model': 12, 'n_ctx': 5, 'd_head': 3, 'model_name': 'custom', 'n_heads': 4, 'd_mlp': 48, 'act_fn': 'gelu',
    'd_vocab': 6, 'eps': 1e-05, 'use_attn_result': True, 'use_attn_scale': True, 'use_split_qkv_input': True,
    'use_hook_mlp_in': True, 'use_attn_in': False, 'use_local_attn': False, 'original_architecture': None,
    'from_checkpoint': False, 'checkpoint_index': None, 'checkpoint_label_type': None, 'checkpoint_value': None,
    'tokenizer_name': None, 'window_size': None, 'attn_types': None, 'init_mode': 'gpt2', 'normalization_type': None,
    'device': 'cuda', 'n_devices': 1, 'attention_dir': 'causal', 'attn_only': False, 'seed': 0,
    'initializer_range': 0.8 / np.sqrt(12), 'init_weights': True, 'scale_attn_by_inverse_layer_idx': False,
    'positional_embedding_type': 'standard', 'final_rms': False, 'd_vocab_out': 1, 'parallel_attn_mlp': False,
    'rotary_dim': None, 'n_params': 6912, 'use_hook_tokens': False, 'gated_mlp': False, 'default_prepend_bos': True,
    'dtype': torch.float32, 'tokenizer_prepends_bos': None, 'n_key_value_heads': None, 'post_embedding_ln': False,
    'rotary_base': 10000, 'trust_remote_code': False, 'rotary_adjacent_pairs': False,
}
# all 320 case-3 inputs: BOS + 3 letters + PAD, then BOS + 4 letters, base-4 order over a<b<c<x (ids 2..5)
seqs = []
for n_letters in (3, 4):
    for combo in np.ndindex(*([4] * n_letters)):
        s = [0] + [2 + c for c in combo]
        seqs.append(s + [1] * (5 - len(s)))
tokens3 = torch.tensor(seqs)
write('interpbench_case3_like', sd3, cfg3, tokens3, 2, 3, 'gelu',
      ['blocks.0.hook_resid_pre', 'blocks.0.attn.hook_pattern', 'blocks.0.mlp.hook_post', 'blocks.1.attn.hook_z', 'blocks.1.hook_resid_post'])

# relu, d_head independent of d_model / n_heads, a config object with missing keys (TL defaults)
mod = types.ModuleType('transformer_lens.HookedTransformerConfig')
sys.modules['transformer_lens'] = types.ModuleType('transformer_lens')
sys.modules['transformer_lens.HookedTransformerConfig'] = mod
@dataclasses.dataclass
class HookedTransformerConfig:
    n_layers: int
    d_model: int
    n_ctx: int
    d_head: int
    n_heads: int = -1
    act_fn: str = None
    d_vocab: int = -1
    d_vocab_out: int = -1
    normalization_type: str = 'LN'
    attn_scale: float = -1.0
    device: str = None
HookedTransformerConfig.__module__ = 'transformer_lens.HookedTransformerConfig'
mod.HookedTransformerConfig = HookedTransformerConfig
gen = torch.Generator().manual_seed(4)
sdr = make_state_dict(1, 10, 3, 4, 40, 7, 2, 6, gen)  # d_mlp 40 = TL default 4 * d_model
cfgr = HookedTransformerConfig(n_layers=1, d_model=10, n_ctx=6, d_head=4, n_heads=3, act_fn='relu', d_vocab=7,
                               d_vocab_out=2, normalization_type=None, device='cuda:0')
tokensr = torch.randint(0, 7, (3, 6), generator=gen)
write('interpbench_relu', sdr, cfgr, tokensr, 1, 4, 'relu', ['blocks.0.attn.hook_pattern', 'blocks.0.mlp.hook_pre', 'blocks.0.hook_resid_post'])
print('wrote', ROOT)
