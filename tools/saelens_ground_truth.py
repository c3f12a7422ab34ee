"""Reference figures for `npm run bench -- groundTruth`: SAELens 6.18's own SAETrainer (run with Debian's torch
through tools/saelens_stubs.py) on ground truth of the same kind: n_features random unit directions in d_in
dims, each active with p = active / n_features with coefficients U(0.5, 1.5), plus gaussian noise 0.01.
Prints one JSON line: the arguments, the mean over true directions of the best cosine with any decoder row,
held-out explained variance and seconds. A reference run for docs/sae-architectures.md, never run by tests.

usage: /usr/bin/python3 tools/saelens_ground_truth.py saelens=/path/to/SAELens arch=topk|batchtopk|matryoshka
       [k=3] [lr=3e-3] [steps=4000] [batch=256] [din=48] [nf=192] [dsae=384] [active=2] [widths=48,192] [seed=0]
(saelens: a checkout of github.com/jbloomAus/SAELens at v6.18.0)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from saelens_stubs import import_saelens  # noqa: E402

args = dict(a.split("=", 1) for a in sys.argv[1:])
import_saelens(args.pop("saelens"))
import torch  # noqa: E402
import sae_lens.saes as saes  # noqa: E402
from sae_lens.config import LoggingConfig, SAETrainerConfig  # noqa: E402
from sae_lens.training.sae_trainer import SAETrainer  # noqa: E402

torch.set_num_threads(1)
d_in, n_features, active = int(args.get("din", 48)), int(args.get("nf", 192)), float(args.get("active", 2))
steps, batch, lr = int(args.get("steps", 4000)), int(args.get("batch", 256)), float(args.get("lr", 3e-3))
arch, k, d_sae = args.get("arch", "topk"), float(args.get("k", 3)), int(args.get("dsae", 2 * n_features))
gen = torch.Generator().manual_seed(int(args.get("dseed", 1)))
directions = torch.randn(n_features, d_in, generator=gen)
directions = directions / directions.norm(dim=1, keepdim=True)


def sample(n):
    on = torch.rand(n, n_features, generator=gen) < active / n_features
    coefficients = (torch.rand(n, n_features, generator=gen) + 0.5) * on
    return coefficients @ directions + 0.01 * torch.randn(n, d_in, generator=gen)


def batches():
    while True:
        yield sample(batch)


torch.manual_seed(int(args.get("seed", 0)))
if arch == "topk":
    sae = saes.TopKTrainingSAE(saes.TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=int(k)))
elif arch == "batchtopk":
    sae = saes.BatchTopKTrainingSAE(saes.BatchTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k))
elif arch == "matryoshka":
    widths = [int(w) for w in args.get("widths", "48,192").split(",")]
    sae = saes.MatryoshkaBatchTopKTrainingSAE(saes.MatryoshkaBatchTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, matryoshka_widths=widths))
else:
    raise SystemExit(f"arch must be topk, batchtopk or matryoshka, got {arch}")
trainer_cfg = SAETrainerConfig(n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False, total_training_samples=steps * batch,
                               device="cpu", autocast=False, lr=lr, lr_end=lr / 10, lr_scheduler_name="constant", lr_warm_up_steps=0,
                               adam_beta1=0.9, adam_beta2=0.999, lr_decay_steps=0, n_restart_cycles=1, train_batch_size_samples=batch,
                               dead_feature_window=1000, feature_sampling_window=2000, logger=LoggingConfig(log_to_wandb=False))
t0 = time.time()
SAETrainer(trainer_cfg, sae, batches()).fit()
seconds = time.time() - t0
w_dec = sae.W_dec.detach()
w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
cosine = (directions @ w_dec.T).max(dim=1).values.mean().item()
held = sample(4096)
with torch.no_grad():
    recon = sae.decode(sae.encode(held))
ev = 1 - ((held - recon) ** 2).sum(1).mean() / ((held - held.mean(0)) ** 2).sum(1).mean()
print(json.dumps({**args, "arch": arch, "cos": round(cosine, 4), "ev": round(ev.item(), 4), "s": round(seconds, 1)}))
