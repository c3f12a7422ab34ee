#!/usr/bin/env python3
"""What `saelab cache` does, in PyTorch, for `npm run bench -- torch` (end-to-end timing of whole processes).

Loads a Hugging Face GPT-2 folder (config.json + model.safetensors), runs the model on the given token ids (no
weight processing, as `saelab cache --no-processing`), and writes the requested residual hooks
(blocks.L.hook_resid_pre / hook_resid_post) and, unless --no-logits, the logits [batch, pos, d_vocab] as float32
to a safetensors file. With --no-logits it stops after the last block a hook needs (TransformerLens's
stop_at_layer). Optional: needs torch (Debian's python3-torch); never a dependency of saelab or its tests.
usage: cache.py --model DIR --tokens "1,2;3,4" --hooks blocks.6.hook_resid_pre [--no-logits] --out FILE
"""
import argparse
import json
import math
import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--hooks", required=True)
    ap.add_argument("--no-logits", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in st.read(os.path.join(args.model, "model.safetensors")).items()}
    d, h, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    dh = d // h
    tokens = torch.tensor([[int(t) for t in row.split(",")] for row in args.tokens.split(";")])
    B, P = tokens.shape
    hooks = args.hooks.split(",")
    want = {}
    for name in hooks:
        m = re.fullmatch(r"blocks\.(\d+)\.hook_resid_(pre|post)", name)
        if not m:
            sys.exit(f"cache.py: only blocks.L.hook_resid_pre/post hooks, got {name}")
        want[name] = (int(m.group(1)), m.group(2))
    stop = L if not args.no_logits else max(l + (1 if kind == "post" else 0) for l, kind in want.values())
    mask = torch.triu(torch.full((P, P), float("-inf")), diagonal=1)
    out = {}
    with torch.no_grad():
        resid = w["wte.weight"][tokens] + w["wpe.weight"][:P]
        for l in range(stop):
            for name, (hl, kind) in want.items():
                if hl == l and kind == "pre":
                    out[name] = resid.clone()
            p = f"h.{l}."
            x = F.layer_norm(resid, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = torch.addmm(w[p + "attn.c_attn.bias"], x.reshape(B * P, d), w[p + "attn.c_attn.weight"])
            q, k, v = qkv.reshape(B, P, 3, h, dh).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, -1)
            z = (att @ v).transpose(1, 2).reshape(B * P, d)
            resid = resid + torch.addmm(w[p + "attn.c_proj.bias"], z, w[p + "attn.c_proj.weight"]).reshape(B, P, d)
            x2 = F.layer_norm(resid, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps).reshape(B * P, d)
            hdn = F.gelu(torch.addmm(w[p + "mlp.c_fc.bias"], x2, w[p + "mlp.c_fc.weight"]), approximate="tanh")
            resid = resid + torch.addmm(w[p + "mlp.c_proj.bias"], hdn, w[p + "mlp.c_proj.weight"]).reshape(B, P, d)
            for name, (hl, kind) in want.items():
                if hl == l and kind == "post":
                    out[name] = resid.clone()
        for name, (hl, kind) in want.items():
            if hl == stop and kind == "pre":
                out[name] = resid.clone()
        if not args.no_logits:
            final = F.layer_norm(resid, (d,), w["ln_f.weight"], w["ln_f.bias"], eps)
            out["logits"] = (final.reshape(B * P, d) @ w["wte.weight"].T).reshape(B, P, -1)
    st.write(args.out, out, {"model": args.model})
    print(f"wrote {', '.join(out)} to {args.out}")


if __name__ == "__main__":
    main()
