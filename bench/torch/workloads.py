#!/usr/bin/env python3
"""The in-process workloads of bench/backendWorkloads.ts in PyTorch, for `npm run bench -- vs-torch`.

Same shapes, same maths, float32 on the CPU, every core (torch.set_num_threads(os.cpu_count())):
  gpt2       GPT-2-small-shaped forward (8 x 128 tokens, 12 pre-LN blocks, gelu_new MLP, tied unembedding),
             logits plus one cached residual, under no_grad
  gpt2-bf16  the same with every weight and activation in bfloat16 (model.to(torch.bfloat16); for bench/bf16.bench.ts)
  sae-fwd    SAE encode + decode relu((x - b_dec) W_enc + b_enc) W_dec + b_dec, 4096 x 768 -> 24576, with
             b_enc = -2.87 so that ~50 features per token are active (as SAELens runs it: dense products)
  sae-train  one SAE training step (MSE + L1 weighted by decoder row norms, backward, torch.optim.Adam)

Prints one JSON line per workload: {"workload", "ms" (median), "times" (all timed runs), "tokens"}.
Optional: needs torch (Debian's python3-torch); never a dependency of saelab or its tests.
usage: workloads.py [--workloads gpt2,sae-fwd,sae-train] [--reps N] [--sae-tokens 4096]
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

GPT2 = dict(batch=8, pos=128, d_model=768, n_heads=12, d_mlp=3072, n_layers=12, d_vocab=50257)
SAE_BIAS = -2.87  # P(N(0,1) > 2.87) ~ 0.002: ~50 of 24576 features active per token


def timed(step, reps):
    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2], times


def gpt2_forward(dtype=torch.float32):
    g = GPT2
    gen = torch.Generator().manual_seed(0)
    rnd = lambda *shape, s=0.02: torch.randn(*shape, generator=gen) * s
    d, h = g["d_model"], g["n_heads"]
    dh = d // h
    wE, wPos = rnd(g["d_vocab"], d), rnd(1024, d, s=0.01)
    blocks = []
    for _ in range(g["n_layers"]):
        blocks.append(dict(ln1w=torch.ones(d), ln1b=torch.zeros(d), wQKV=rnd(d, 3 * d), bQKV=torch.zeros(3 * d),
                           wO=rnd(d, d), bO=torch.zeros(d), ln2w=torch.ones(d), ln2b=torch.zeros(d),
                           wIn=rnd(d, g["d_mlp"]), bIn=torch.zeros(g["d_mlp"]), wOut=rnd(g["d_mlp"], d), bOut=torch.zeros(d)))
    lnfw, lnfb = torch.ones(d), torch.zeros(d)
    B, P = g["batch"], g["pos"]
    tokens = (torch.arange(B * P) * 7919 % g["d_vocab"]).reshape(B, P)
    mask = torch.triu(torch.full((P, P), -1e9), diagonal=1)
    if dtype != torch.float32:
        wE, wPos, lnfw, lnfb, mask = (t.to(dtype) for t in (wE, wPos, lnfw, lnfb, mask))
        blocks = [{k: t.to(dtype) for k, t in b.items()} for b in blocks]

    @torch.no_grad()
    def step():
        resid = wE[tokens] + wPos[:P]
        cached = None
        for l, b in enumerate(blocks):
            x = F.layer_norm(resid, (d,), b["ln1w"], b["ln1b"], 1e-5).reshape(B * P, d)
            qkv = torch.addmm(b["bQKV"], x, b["wQKV"]).reshape(B, P, 3, h, dh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + mask
            z = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B * P, d)
            resid = resid + torch.addmm(b["bO"], z, b["wO"]).reshape(B, P, d)
            x2 = F.layer_norm(resid, (d,), b["ln2w"], b["ln2b"], 1e-5).reshape(B * P, d)
            mlp = torch.addmm(b["bOut"], F.gelu(torch.addmm(b["bIn"], x2, b["wIn"]), approximate="tanh"), b["wOut"])
            resid = resid + mlp.reshape(B, P, d)
            if l == g["n_layers"] // 2:
                cached = resid.clone()
        final = F.layer_norm(resid, (d,), lnfw, lnfb, 1e-5).reshape(B * P, d)
        logits = final @ wE.T
        return logits, cached

    return step, B * P


def sae_weights(tokens, d_in=768, d_sae=24576, bias=SAE_BIAS):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(tokens, d_in, generator=gen)
    w_enc = torch.randn(d_in, d_sae, generator=gen) / math.sqrt(d_in)
    b_enc = torch.full((d_sae,), bias)
    w_dec = torch.randn(d_sae, d_in, generator=gen) / math.sqrt(d_sae)
    b_dec = torch.zeros(d_in)
    return x, w_enc, b_enc, w_dec, b_dec


def sae_forward(tokens):
    x, w_enc, b_enc, w_dec, b_dec = sae_weights(tokens)

    @torch.no_grad()
    def step():
        acts = F.relu(torch.addmm(b_enc, x - b_dec, w_enc))
        return acts, torch.addmm(b_dec, acts, w_dec)

    return step, tokens


def sae_train(tokens, l1=5.0):
    x, w_enc, b_enc, w_dec, b_dec = sae_weights(tokens, bias=0.0)
    params = [p.requires_grad_() for p in (w_enc, b_enc, w_dec, b_dec)]
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        acts = F.relu(torch.addmm(b_enc, x - b_dec, w_enc))
        recon = torch.addmm(b_dec, acts, w_dec)
        mse = (recon - x).pow(2).sum(-1).mean()
        sparsity = (acts * w_dec.norm(dim=1)).sum(-1).mean()
        loss = mse + l1 * sparsity
        loss.backward()
        opt.step()
        return loss.item()

    return step, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="gpt2,sae-fwd,sae-train")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sae-tokens", type=int, default=4096)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    makers = {"gpt2": gpt2_forward, "gpt2-bf16": lambda: gpt2_forward(torch.bfloat16), "sae-fwd": lambda: sae_forward(args.sae_tokens), "sae-train": lambda: sae_train(args.sae_tokens)}
    for name in args.workloads.split(","):
        step, tokens = makers[name]()
        ms, times = timed(step, args.reps)
        print(json.dumps({"workload": name, "ms": ms, "times": times, "tokens": tokens, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
