"""TransformerLens's unprocessed forward for models without LayerNorm, written out in torch (float64).

Used by the fixture and check scripts in tools/ as an independent reference for saelab's HookedTransformer.
"""
import math

import torch
import torch.nn.functional as F


def forward(sd, tokens, L, dh, act):
    """TransformerLens's unprocessed forward, no LayerNorm, in float64. Returns logits and a cache."""
    g = {k: v.double() for k, v in sd.items() if v.is_floating_point()}
    T = tokens.shape[1]
    cache = {}
    resid = g['embed.W_E'][tokens] + g['pos_embed.W_pos'][:T][None]
    for l in range(L):
        b = f'blocks.{l}'
        cache[f'{b}.hook_resid_pre'] = resid
        q = torch.einsum('bpd,hde->bphe', resid, g[f'{b}.attn.W_Q']) + g[f'{b}.attn.b_Q']
        k = torch.einsum('bpd,hde->bphe', resid, g[f'{b}.attn.W_K']) + g[f'{b}.attn.b_K']
        v = torch.einsum('bpd,hde->bphe', resid, g[f'{b}.attn.W_V']) + g[f'{b}.attn.b_V']
        scores = torch.einsum('bqhe,bkhe->bhqk', q, k) / math.sqrt(dh)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        scores = scores.masked_fill(~causal, -float('inf'))
        pattern = torch.softmax(scores, dim=-1)
        z = torch.einsum('bhqk,bkhe->bqhe', pattern, v)
        attn_out = torch.einsum('bqhe,hed->bqd', z, g[f'{b}.attn.W_O']) + g[f'{b}.attn.b_O']
        resid_mid = resid + attn_out
        pre = resid_mid @ g[f'{b}.mlp.W_in'] + g[f'{b}.mlp.b_in']
        post = F.gelu(pre) if act == 'gelu' else torch.relu(pre)
        mlp_out = post @ g[f'{b}.mlp.W_out'] + g[f'{b}.mlp.b_out']
        resid = resid_mid + mlp_out
        cache.update({f'{b}.attn.hook_q': q, f'{b}.attn.hook_pattern': pattern, f'{b}.attn.hook_z': z, f'{b}.hook_attn_out': attn_out,
                      f'{b}.mlp.hook_pre': pre, f'{b}.mlp.hook_post': post, f'{b}.hook_resid_post': resid})
    logits = resid @ g['unembed.W_U'] + g['unembed.b_U']
    return logits, cache
