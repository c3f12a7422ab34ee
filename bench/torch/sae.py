#!/usr/bin/env python3
"""What `saelab sae` does, in PyTorch, for `npm run bench -- torch` (end-to-end timing of whole processes).

Reads one tensor [..., d_in] from a safetensors file and a standard SAE folder (SAELens cfg.json +
sae_weights.safetensors), and writes feature_acts = relu((x - b_dec) W_enc + b_enc) and sae_out = feature_acts W_dec
+ b_dec as float32 (dense products, as SAELens's SAE.encode / decode), in batches of --batch rows.
Optional: needs torch (Debian's python3-torch); never a dependency of saelab or its tests.
usage: sae.py --sae DIR --in FILE --tensor NAME --out FILE [--batch 4096]
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", required=True)
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--tensor", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=4096)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = json.load(open(os.path.join(args.sae, "cfg.json")))
    w = st.read(os.path.join(args.sae, "sae_weights.safetensors"))
    x = st.read(args.inp)[args.tensor]
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    rows = x.numel() // d_in
    flat = x.reshape(rows, d_in)
    feats = torch.empty(rows, d_sae)
    recon = torch.empty(rows, d_in)
    with torch.no_grad():
        for r0 in range(0, rows, args.batch):
            xb = flat[r0:r0 + args.batch]
            sae_in = xb - w["b_dec"] if cfg.get("apply_b_dec_to_input", True) else xb
            acts = F.relu(torch.addmm(w["b_enc"], sae_in, w["W_enc"]))
            feats[r0:r0 + args.batch] = acts
            recon[r0:r0 + args.batch] = torch.addmm(w["b_dec"], acts, w["W_dec"])
    lead = list(x.shape[:-1])
    st.write(args.out, {"feature_acts": feats.reshape(lead + [d_sae]), "sae_out": recon.reshape(list(x.shape))}, {"sae": args.sae})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
