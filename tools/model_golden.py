#!/usr/bin/python3
"""Golden fixtures for saelab's HookedTransformer (run with Debian's torch: /usr/bin/python3 tools/model_golden.py).

For each family (gpt2, gpt_neox, llama, mistral, gemma) this writes a tiny random checkpoint in the
Hugging Face layout (config.json + model.safetensors) and a golden file of activations computed by an
independent torch forward pass written here directly from the HF weight layout (no transformers
library), with TransformerLens 2.x hook semantics for the *unprocessed* model:

- LayerNorm: hook_scale = sqrt(mean((x - mean x)^2) + eps); hook_normalized includes w and b.
- RMSNorm: hook_scale = sqrt(mean(x^2) + eps); hook_normalized = x / scale (weight applied after).
- attn.hook_attn_scores after the 1/sqrt(d_head) scale and the causal mask (masked = -inf);
  hook_pattern = softmax with NaN -> 0; hook_z [b, p, head, d_head]; GQA keeps n_kv heads in hook_k/v.
- rotary: hook_q/hook_k before rotation, hook_rot_q/hook_rot_k after (NeoX halves layout).
- gated MLP: hook_pre = x W_gate, hook_pre_linear = x W_in, hook_post = act(pre) * pre_linear.
- loss: mean next-token cross entropy over all predictions.

Computation is in float64 from the stored (possibly fp16/bf16) weights; outputs are saved as F32.
Outputs go to test/fixtures/model/. Deterministic (fixed seeds).
"""
import json
import math
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'model')


# ---------------------------------------------------------------- safetensors writer

def to_bits(t: torch.Tensor, dtype: str) -> bytes:
    t = t.detach().contiguous()
    if dtype == 'F32':
        return t.to(torch.float32).numpy().tobytes()
    if dtype == 'F16':
        return t.to(torch.float16).numpy().tobytes()
    if dtype == 'BF16':
        return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    if dtype == 'I32':
        return t.to(torch.int32).numpy().tobytes()
    raise ValueError(dtype)


def write_safetensors(path: str, tensors: dict, dtypes: dict = None, default='F32'):
    header = {}
    blobs = []
    off = 0
    for name, t in tensors.items():
        dt = (dtypes or {}).get(name, 'I32' if t.dtype in (torch.int32, torch.int64) else default)
        b = to_bits(t, dt)
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':'))
    h += ' ' * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h.encode())
        for b in blobs:
            f.write(b)


def stored(t: torch.Tensor, dtype: str) -> torch.Tensor:
    """The float64 value a tensor has after being stored as dtype."""
    if dtype == 'F16':
        return t.to(torch.float16).to(torch.float64)
    if dtype == 'BF16':
        return t.to(torch.bfloat16).to(torch.float64)
    return t.to(torch.float32).to(torch.float64)


# ---------------------------------------------------------------- reference pieces

def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def layer_norm(x, w, b, eps, hooks, name):
    xc = x - x.mean(-1, keepdim=True)
    scale = torch.sqrt((xc ** 2).mean(-1, keepdim=True) + eps)
    out = xc / scale * w + b
    hooks[f'{name}.hook_scale'] = scale
    hooks[f'{name}.hook_normalized'] = out
    return out


def rms_norm(x, w, eps, hooks, name):
    scale = torch.sqrt((x ** 2).mean(-1, keepdim=True) + eps)
    normed = x / scale
    hooks[f'{name}.hook_scale'] = scale
    hooks[f'{name}.hook_normalized'] = normed
    return normed * w


def position_ids(mask):
    """TransformerLens get_offset_position_ids: cumsum(mask) - 1 clamped at 0."""
    return (mask.cumsum(1) - 1).clamp(min=0)


def rotate(x, pos, rd, base):
    """NeoX/Llama rotary (rotate_half) on the first rd dims; pos [b, p]."""
    inv = 1.0 / (base ** (torch.arange(0, rd, 2, dtype=torch.float64) / rd))
    ang = pos.to(torch.float64)[..., None] * inv  # [b, p, rd/2]
    emb = torch.cat([ang, ang], -1)[:, :, None, :]  # [b, p, 1, rd]
    cos, sin = emb.cos(), emb.sin()
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2:]
    rot = torch.cat([-x2, x1], -1)
    return torch.cat([xr * cos + rot * sin, xp], -1)


def attend(q, k, v, mask, window, hooks, name):
    """q [b,p,h,dh], k/v [b,p,kv,dh] -> z [b,p,h,dh]; records scores/pattern/z."""
    b, p, h, dh = q.shape
    g = h // k.shape[2]
    k = k.repeat_interleave(g, dim=2)
    v = v.repeat_interleave(g, dim=2)
    scores = torch.einsum('bqhd,bkhd->bhqk', q, k) / math.sqrt(dh)
    qi = torch.arange(p)[:, None]
    ki = torch.arange(p)[None, :]
    allowed = ki <= qi
    if window is not None:
        allowed = allowed & (ki > qi - window)
    allowed = allowed[None, None].expand(b, 1, p, p)
    if mask is not None:
        allowed = allowed & mask.bool()[:, None, None, :]
    scores = torch.where(allowed, scores, torch.tensor(-math.inf, dtype=scores.dtype))
    hooks[f'{name}.hook_attn_scores'] = scores
    pattern = torch.softmax(scores, -1)
    pattern = torch.where(torch.isnan(pattern), torch.zeros_like(pattern), pattern)
    hooks[f'{name}.hook_pattern'] = pattern
    z = torch.einsum('bhqk,bkhd->bqhd', pattern, v)
    hooks[f'{name}.hook_z'] = z
    return z


def loss_fn(logits, tokens, mask=None):
    lp = torch.log_softmax(logits, -1)[:, :-1]
    picked = lp.gather(-1, tokens[:, 1:, None].long())[..., 0]
    if mask is not None:
        m = (mask[:, :-1] * mask[:, 1:]).to(lp.dtype)
        per = -picked * m
        return per.sum() / m.sum(), per
    return -picked.mean(), -picked


# ---------------------------------------------------------------- families

def forward_gpt2(W, c, tokens, mask):
    hooks = {}
    d, h = c['n_embd'], c['n_head']
    dh = d // h
    B, P = tokens.shape
    eps = c['layer_norm_epsilon']
    emb = W['wte.weight'][tokens]
    hooks['hook_embed'] = emb
    pos = position_ids(mask) if mask is not None else torch.arange(P)[None].expand(B, P)
    pe = W['wpe.weight'][pos]
    if mask is not None:
        pe = pe * mask[..., None].to(pe.dtype)
    hooks['hook_pos_embed'] = pe
    r = emb + pe
    for l in range(c['n_layer']):
        p = f'h.{l}'
        n = f'blocks.{l}'
        hooks[f'{n}.hook_resid_pre'] = r
        x = layer_norm(r, W[f'{p}.ln_1.weight'], W[f'{p}.ln_1.bias'], eps, hooks, f'{n}.ln1')
        qkv = x @ W[f'{p}.attn.c_attn.weight'] + W[f'{p}.attn.c_attn.bias']
        q, k, v = [t.reshape(B, P, h, dh) for t in qkv.split(d, -1)]
        hooks[f'{n}.attn.hook_q'], hooks[f'{n}.attn.hook_k'], hooks[f'{n}.attn.hook_v'] = q, k, v
        z = attend(q, k, v, mask, None, hooks, f'{n}.attn')
        attn_out = z.reshape(B, P, d) @ W[f'{p}.attn.c_proj.weight'] + W[f'{p}.attn.c_proj.bias']
        hooks[f'{n}.hook_attn_out'] = attn_out
        mid = r + attn_out
        hooks[f'{n}.hook_resid_mid'] = mid
        x2 = layer_norm(mid, W[f'{p}.ln_2.weight'], W[f'{p}.ln_2.bias'], eps, hooks, f'{n}.ln2')
        pre = x2 @ W[f'{p}.mlp.c_fc.weight'] + W[f'{p}.mlp.c_fc.bias']
        post = gelu_tanh(pre)
        hooks[f'{n}.mlp.hook_pre'], hooks[f'{n}.mlp.hook_post'] = pre, post
        mlp_out = post @ W[f'{p}.mlp.c_proj.weight'] + W[f'{p}.mlp.c_proj.bias']
        hooks[f'{n}.hook_mlp_out'] = mlp_out
        r = mid + mlp_out
        hooks[f'{n}.hook_resid_post'] = r
    x = layer_norm(r, W['ln_f.weight'], W['ln_f.bias'], eps, hooks, 'ln_final')
    return x @ W['wte.weight'].T, hooks


def forward_neox(W, c, tokens, mask):
    hooks = {}
    d, h = c['hidden_size'], c['num_attention_heads']
    dh = d // h
    rd = round(c['rotary_pct'] * dh)
    B, P = tokens.shape
    eps = c['layer_norm_eps']
    r = W['gpt_neox.embed_in.weight'][tokens]
    hooks['hook_embed'] = r
    pos = position_ids(mask) if mask is not None else torch.arange(P)[None].expand(B, P)
    for l in range(c['num_hidden_layers']):
        p = f'gpt_neox.layers.{l}'
        n = f'blocks.{l}'
        hooks[f'{n}.hook_resid_pre'] = r
        x = layer_norm(r, W[f'{p}.input_layernorm.weight'], W[f'{p}.input_layernorm.bias'], eps, hooks, f'{n}.ln1')
        qkv = (x @ W[f'{p}.attention.query_key_value.weight'].T + W[f'{p}.attention.query_key_value.bias']).reshape(B, P, h, 3 * dh)
        q, k, v = qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]
        hooks[f'{n}.attn.hook_q'], hooks[f'{n}.attn.hook_k'], hooks[f'{n}.attn.hook_v'] = q, k, v
        q = rotate(q, pos, rd, c['rotary_emb_base'])
        k = rotate(k, pos, rd, c['rotary_emb_base'])
        hooks[f'{n}.attn.hook_rot_q'], hooks[f'{n}.attn.hook_rot_k'] = q, k
        z = attend(q, k, v, mask, None, hooks, f'{n}.attn')
        attn_out = z.reshape(B, P, d) @ W[f'{p}.attention.dense.weight'].T + W[f'{p}.attention.dense.bias']
        hooks[f'{n}.hook_attn_out'] = attn_out
        x2 = layer_norm(r, W[f'{p}.post_attention_layernorm.weight'], W[f'{p}.post_attention_layernorm.bias'], eps, hooks, f'{n}.ln2')
        pre = x2 @ W[f'{p}.mlp.dense_h_to_4h.weight'].T + W[f'{p}.mlp.dense_h_to_4h.bias']
        post = gelu_erf(pre)
        hooks[f'{n}.mlp.hook_pre'], hooks[f'{n}.mlp.hook_post'] = pre, post
        mlp_out = post @ W[f'{p}.mlp.dense_4h_to_h.weight'].T + W[f'{p}.mlp.dense_4h_to_h.bias']
        hooks[f'{n}.hook_mlp_out'] = mlp_out
        r = r + attn_out + mlp_out
        hooks[f'{n}.hook_resid_post'] = r
    x = layer_norm(r, W['gpt_neox.final_layer_norm.weight'], W['gpt_neox.final_layer_norm.bias'], eps, hooks, 'ln_final')
    return x @ W['embed_out.weight'].T, hooks


def forward_llama_like(W, c, tokens, mask, family):
    hooks = {}
    d, h = c['hidden_size'], c['num_attention_heads']
    kv = c['num_key_value_heads']
    dh = c.get('head_dim') or d // h
    B, P = tokens.shape
    eps = c['rms_norm_eps']
    gemma = family == 'gemma'
    window = c.get('sliding_window') if family == 'mistral' else None
    nw = (lambda w: 1 + w) if gemma else (lambda w: w)
    emb = W['model.embed_tokens.weight'][tokens]
    if gemma:
        emb = emb * torch.tensor(math.sqrt(d), dtype=torch.float32).to(torch.float64)
    hooks['hook_embed'] = emb
    r = emb
    pos = position_ids(mask) if mask is not None else torch.arange(P)[None].expand(B, P)
    act = gelu_tanh if gemma else (lambda x: x * torch.sigmoid(x))
    for l in range(c['num_hidden_layers']):
        p = f'model.layers.{l}'
        n = f'blocks.{l}'
        hooks[f'{n}.hook_resid_pre'] = r
        x = rms_norm(r, nw(W[f'{p}.input_layernorm.weight']), eps, hooks, f'{n}.ln1')
        q = (x @ W[f'{p}.self_attn.q_proj.weight'].T).reshape(B, P, h, dh)
        k = (x @ W[f'{p}.self_attn.k_proj.weight'].T).reshape(B, P, kv, dh)
        v = (x @ W[f'{p}.self_attn.v_proj.weight'].T).reshape(B, P, kv, dh)
        hooks[f'{n}.attn.hook_q'], hooks[f'{n}.attn.hook_k'], hooks[f'{n}.attn.hook_v'] = q, k, v
        q = rotate(q, pos, dh, c['rope_theta'])
        k = rotate(k, pos, dh, c['rope_theta'])
        hooks[f'{n}.attn.hook_rot_q'], hooks[f'{n}.attn.hook_rot_k'] = q, k
        z = attend(q, k, v, mask, window, hooks, f'{n}.attn')
        attn_out = z.reshape(B, P, h * dh) @ W[f'{p}.self_attn.o_proj.weight'].T
        hooks[f'{n}.hook_attn_out'] = attn_out
        mid = r + attn_out
        hooks[f'{n}.hook_resid_mid'] = mid
        x2 = rms_norm(mid, nw(W[f'{p}.post_attention_layernorm.weight']), eps, hooks, f'{n}.ln2')
        pre = x2 @ W[f'{p}.mlp.gate_proj.weight'].T
        pre_lin = x2 @ W[f'{p}.mlp.up_proj.weight'].T
        post = act(pre) * pre_lin
        hooks[f'{n}.mlp.hook_pre'], hooks[f'{n}.mlp.hook_pre_linear'], hooks[f'{n}.mlp.hook_post'] = pre, pre_lin, post
        mlp_out = post @ W[f'{p}.mlp.down_proj.weight'].T
        hooks[f'{n}.hook_mlp_out'] = mlp_out
        r = mid + mlp_out
        hooks[f'{n}.hook_resid_post'] = r
    x = rms_norm(r, nw(W['model.norm.weight']), eps, hooks, 'ln_final')
    unembed = W['lm_head.weight'] if 'lm_head.weight' in W else W['model.embed_tokens.weight']
    return x @ unembed.T, hooks


# ---------------------------------------------------------------- checkpoints

def rnd(g, *shape, std=0.3):
    return torch.randn(*shape, generator=g, dtype=torch.float64) * std


def make_gpt2(g):
    d, h, L, V, C = 16, 4, 2, 48, 16
    c = {'architectures': ['GPT2LMHeadModel'], 'model_type': 'gpt2', 'n_embd': d, 'n_head': h, 'n_layer': L, 'n_ctx': C,
         'n_positions': C, 'vocab_size': V, 'layer_norm_epsilon': 1e-5, 'activation_function': 'gelu_new', 'n_inner': None}
    W = {'wte.weight': rnd(g, V, d, std=0.5), 'wpe.weight': rnd(g, C, d, std=0.3)}
    for l in range(L):
        p = f'h.{l}'
        W[f'{p}.ln_1.weight'] = 1 + rnd(g, d, std=0.2)
        W[f'{p}.ln_1.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.attn.c_attn.weight'] = rnd(g, d, 3 * d)
        W[f'{p}.attn.c_attn.bias'] = rnd(g, 3 * d, std=0.1)
        W[f'{p}.attn.c_proj.weight'] = rnd(g, d, d)
        W[f'{p}.attn.c_proj.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.ln_2.weight'] = 1 + rnd(g, d, std=0.2)
        W[f'{p}.ln_2.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.mlp.c_fc.weight'] = rnd(g, d, 4 * d)
        W[f'{p}.mlp.c_fc.bias'] = rnd(g, 4 * d, std=0.1)
        W[f'{p}.mlp.c_proj.weight'] = rnd(g, 4 * d, d)
        W[f'{p}.mlp.c_proj.bias'] = rnd(g, d, std=0.1)
    W['ln_f.weight'] = 1 + rnd(g, d, std=0.2)
    W['ln_f.bias'] = rnd(g, d, std=0.1)
    return c, W, 'F32', V


def make_neox(g):
    d, h, L, V, C, m = 16, 2, 2, 48, 32, 40
    c = {'architectures': ['GPTNeoXForCausalLM'], 'model_type': 'gpt_neox', 'hidden_size': d, 'num_attention_heads': h,
         'num_hidden_layers': L, 'intermediate_size': m, 'max_position_embeddings': C, 'vocab_size': V, 'layer_norm_eps': 1e-5,
         'hidden_act': 'gelu', 'rotary_pct': 0.5, 'rotary_emb_base': 10000, 'use_parallel_residual': True, 'tie_word_embeddings': False}
    W = {'gpt_neox.embed_in.weight': rnd(g, V, d, std=0.5)}
    for l in range(L):
        p = f'gpt_neox.layers.{l}'
        W[f'{p}.input_layernorm.weight'] = 1 + rnd(g, d, std=0.2)
        W[f'{p}.input_layernorm.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.attention.query_key_value.weight'] = rnd(g, 3 * d, d)
        W[f'{p}.attention.query_key_value.bias'] = rnd(g, 3 * d, std=0.1)
        W[f'{p}.attention.dense.weight'] = rnd(g, d, d)
        W[f'{p}.attention.dense.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.post_attention_layernorm.weight'] = 1 + rnd(g, d, std=0.2)
        W[f'{p}.post_attention_layernorm.bias'] = rnd(g, d, std=0.1)
        W[f'{p}.mlp.dense_h_to_4h.weight'] = rnd(g, m, d)
        W[f'{p}.mlp.dense_h_to_4h.bias'] = rnd(g, m, std=0.1)
        W[f'{p}.mlp.dense_4h_to_h.weight'] = rnd(g, d, m)
        W[f'{p}.mlp.dense_4h_to_h.bias'] = rnd(g, d, std=0.1)
    W['gpt_neox.final_layer_norm.weight'] = 1 + rnd(g, d, std=0.2)
    W['gpt_neox.final_layer_norm.bias'] = rnd(g, d, std=0.1)
    W['embed_out.weight'] = rnd(g, V, d, std=0.5)
    return c, W, 'F16', V


def make_llama_like(g, family):
    d, L, V, C, m = 16, 2, 48, 64, 24
    if family == 'gemma':
        h, kv, dh = 4, 1, 8
    else:
        h, kv, dh = 4, 2, 4
    arch = {'llama': 'LlamaForCausalLM', 'mistral': 'MistralForCausalLM', 'gemma': 'GemmaForCausalLM'}[family]
    c = {'architectures': [arch], 'model_type': family, 'hidden_size': d, 'num_attention_heads': h, 'num_key_value_heads': kv,
         'num_hidden_layers': L, 'intermediate_size': m, 'max_position_embeddings': C, 'vocab_size': V, 'rms_norm_eps': 1e-6,
         'hidden_act': 'silu', 'rope_theta': {'llama': 10000.0, 'mistral': 1000000.0, 'gemma': 10000.0}[family]}
    if family == 'gemma':
        c.update({'head_dim': dh, 'hidden_act': 'gelu_pytorch_tanh', 'hidden_activation': 'gelu_pytorch_tanh', 'tie_word_embeddings': True})
    if family == 'mistral':
        c['sliding_window'] = 4
    if family == 'llama':
        c['tie_word_embeddings'] = False
    W = {'model.embed_tokens.weight': rnd(g, V, d, std=0.5 if family != 'gemma' else 0.15)}
    nw = (lambda: rnd(g, d, std=0.2)) if family == 'gemma' else (lambda: 1 + rnd(g, d, std=0.2))
    for l in range(L):
        p = f'model.layers.{l}'
        W[f'{p}.input_layernorm.weight'] = nw()
        W[f'{p}.self_attn.q_proj.weight'] = rnd(g, h * dh, d)
        W[f'{p}.self_attn.k_proj.weight'] = rnd(g, kv * dh, d)
        W[f'{p}.self_attn.v_proj.weight'] = rnd(g, kv * dh, d)
        W[f'{p}.self_attn.o_proj.weight'] = rnd(g, d, h * dh)
        W[f'{p}.post_attention_layernorm.weight'] = nw()
        W[f'{p}.mlp.gate_proj.weight'] = rnd(g, m, d)
        W[f'{p}.mlp.up_proj.weight'] = rnd(g, m, d)
        W[f'{p}.mlp.down_proj.weight'] = rnd(g, d, m)
    W['model.norm.weight'] = nw()
    if family != 'gemma':
        W['lm_head.weight'] = rnd(g, V, d, std=0.5)
    dtype = {'llama': 'F32', 'mistral': 'BF16', 'gemma': 'BF16'}[family]
    return c, W, dtype, V


def main():
    families = {
        'gpt2': (make_gpt2, forward_gpt2),
        'gpt_neox': (make_neox, forward_neox),
        'llama': (lambda g: make_llama_like(g, 'llama'), lambda W, c, t, m: forward_llama_like(W, c, t, m, 'llama')),
        'mistral': (lambda g: make_llama_like(g, 'mistral'), lambda W, c, t, m: forward_llama_like(W, c, t, m, 'mistral')),
        'gemma': (lambda g: make_llama_like(g, 'gemma'), lambda W, c, t, m: forward_llama_like(W, c, t, m, 'gemma')),
    }
    for i, (fam, (make, fwd)) in enumerate(families.items()):
        g = torch.Generator().manual_seed(1000 + i)
        c, W, dtype, V = make(g)
        d = os.path.join(OUT, fam)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(c, f, indent=1)
        write_safetensors(os.path.join(d, 'model.safetensors'), W, default=dtype)
        Ws = {k: stored(v, dtype) for k, v in W.items()}
        tokens = torch.randint(0, V, (2, 6), generator=g)
        logits, hooks = fwd(Ws, c, tokens, None)
        loss, per_tok = loss_fn(logits, tokens)
        out = {'tokens': tokens.to(torch.int32), 'logits': logits, 'loss': loss.reshape(1), 'loss_per_token': per_tok}
        for name, t in hooks.items():
            # every hook of layer 0 and the top level, residual hooks of later layers (keeps fixtures small)
            if name.startswith('blocks.0.') or not name.startswith('blocks.') or 'hook_resid' in name:
                out[name] = t
        # a left-padded batch: row 0 has two pad positions
        mask = torch.ones(2, 6, dtype=torch.int64)
        mask[0, :2] = 0
        m_logits, m_hooks = fwd(Ws, c, tokens, mask)
        m_loss, _ = loss_fn(m_logits, tokens, mask)
        out['masked.attention_mask'] = mask.to(torch.int32)
        out['masked.logits'] = m_logits
        out['masked.loss'] = m_loss.reshape(1)
        out['masked.blocks.1.hook_resid_post'] = m_hooks['blocks.1.hook_resid_post']
        out['masked.blocks.0.attn.hook_pattern'] = m_hooks['blocks.0.attn.hook_pattern']
        write_safetensors(os.path.join(OUT, f'{fam}_golden.safetensors'), {k: (v if v.dtype == torch.int32 else v.to(torch.float32)) for k, v in out.items()})
        print(fam, 'loss', float(loss), 'masked loss', float(m_loss), 'hooks', len(hooks))
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print('fixture bytes', total)


if __name__ == '__main__':
    main()
