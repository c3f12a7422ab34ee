"""Golden values for saelab's SAE architectures from SAELens 6.18's own code (run with Debian's torch 1.13
through tools/saelens_stubs.py), written under test/fixtures/saelens/:

  transcoders/<arch>/          transcoder, skip_transcoder, jumprelu_transcoder folders written by SAELens's
                               save_model (random weights), read back by SAE.load_from_disk
  transcoders/expected.json    inputs and SAELens's encode / forward outputs for each
  training/<arch>.safetensors  initial parameters (SAELens init), the training batches and the parameters
                               after SAELens's SAETrainer ran on them (SAELens 6 defaults, a few fields set)
  training/<arch>.json         the training config, per-step losses and (BatchTopK) the tracked threshold
  training/<arch>_inference/   the trained SAE as save_inference_model writes it (BatchTopK: a jumprelu SAE)
  training/expected.json       SAELens's encode / forward of each inference folder on a probe input
  saelab_trained/expected.json (with --check-saelab) SAELens's encode / forward of saelab-trained folders in
                               test/fixtures/saelens/saelab_trained/<arch>/, loaded with SAE.load_from_disk

usage: /usr/bin/python3 tools/make_saelens_arch_fixtures.py --saelens /path/to/SAELens [--check-saelab]
(a checkout of github.com/jbloomAus/SAELens at v6.18.0; run from the repository root). Never run by tests.
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from saelens_stubs import import_saelens, read_safetensors, write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "saelens")

D_IN, D_SAE, D_OUT = 6, 16, 5
STEPS, BATCH = 8, 32


def tolist(t):
    return t.detach().double().flatten().tolist()


def metadata(sl, **extra):
    from sae_lens.saes.sae import SAEMetadata
    fields = {"model_name": "tiny-model", "hook_name": "blocks.0.hook_resid_post", "hook_head_index": None, "prepend_bos": True, "context_size": 16}
    return SAEMetadata(**{**fields, **extra})


def transcoders(sl):
    from sae_lens.saes import Transcoder, TranscoderConfig, SkipTranscoder, SkipTranscoderConfig, JumpReLUTranscoder, JumpReLUTranscoderConfig
    from sae_lens.saes.sae import SAE
    torch.manual_seed(0)
    out_dir = os.path.join(ROOT, "transcoders")
    expected = {}
    for arch, cls, cfg_cls in [("transcoder", Transcoder, TranscoderConfig), ("skip_transcoder", SkipTranscoder, SkipTranscoderConfig),
                               ("jumprelu_transcoder", JumpReLUTranscoder, JumpReLUTranscoderConfig)]:
        cfg = cfg_cls(d_in=D_IN, d_sae=8, d_out=D_OUT, apply_b_dec_to_input=False,
                      metadata=metadata(sl, hook_name="blocks.0.ln2.hook_normalized", hook_name_out="blocks.0.hook_mlp_out"))
        model = cls(cfg)
        with torch.no_grad():
            model.b_enc.copy_(torch.randn(8) * 0.3)
            model.b_dec.copy_(torch.randn(D_OUT) * 0.5)
            if hasattr(model, "W_skip"):
                model.W_skip.copy_(torch.randn(D_OUT, D_IN) * 0.2)
            if arch == "jumprelu_transcoder":
                model.threshold.copy_(torch.rand(8) * 0.6)
        folder = os.path.join(out_dir, arch)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_model(folder)
        loaded = SAE.load_from_disk(folder)
        loaded.eval()
        x = torch.randn(2, 3, D_IN)
        with torch.no_grad():
            feats = loaded.encode(x)
            y = loaded(x)
        expected[arch] = {"x": tolist(x), "x_shape": list(x.shape), "feature_acts": tolist(feats), "feature_shape": list(feats.shape),
                          "sae_out": tolist(y), "sae_out_shape": list(y.shape)}
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


# architecture -> (training config class name, fields set beyond SAELens 6's defaults)
TRAINING = {
    "standard": ("StandardTrainingSAEConfig", {"l1_coefficient": 0.3, "l1_warm_up_steps": 2}),
    "gated": ("GatedTrainingSAEConfig", {"l1_coefficient": 0.3}),
    "jumprelu": ("JumpReLUTrainingSAEConfig", {"l0_coefficient": 0.05}),
    "jumprelu_tanh": ("JumpReLUTrainingSAEConfig", {"l0_coefficient": 0.05, "jumprelu_sparsity_loss_mode": "tanh", "pre_act_loss_coefficient": 0.003}),
    "topk": ("TopKTrainingSAEConfig", {"k": 2}),
    "batchtopk": ("BatchTopKTrainingSAEConfig", {"k": 1.5}),
    "matryoshka_batchtopk": ("MatryoshkaBatchTopKTrainingSAEConfig", {"k": 1.5, "matryoshka_widths": [3, 7]}),
}
LR = 3e-3


def training(sl):
    import sae_lens.saes as saes
    from sae_lens.saes.sae import SAE
    from sae_lens.config import SAETrainerConfig, LoggingConfig
    from sae_lens.training.sae_trainer import SAETrainer
    out_dir = os.path.join(ROOT, "training")
    os.makedirs(out_dir, exist_ok=True)
    expected = {}
    for name, (cfg_cls_name, fields) in TRAINING.items():
        torch.manual_seed(1)
        cfg = getattr(saes, cfg_cls_name)(d_in=D_IN, d_sae=D_SAE, metadata=metadata(sl), **fields)
        sae = getattr(saes, cfg_cls_name.replace("Config", ""))(cfg)
        with torch.no_grad():
            # four features start far below zero, so they are dead from the second step on (AuxK / pre-act losses run)
            getattr(sae, "b_gate" if hasattr(sae, "b_gate") else "b_enc")[:4] = -3.0
        init = {k: v.detach().clone() for k, v in sae.state_dict().items()}
        data = torch.randn(STEPS * BATCH, D_IN) * 0.8 + torch.linspace(-0.5, 0.5, D_IN)
        batches = list(data.split(BATCH))
        losses = []
        thresholds = []
        forward = sae.training_forward_pass

        def recording(step_input, forward=forward, sae=sae):
            out = forward(step_input)
            losses.append({"overall_loss": out.loss.item(), **{k: v.item() for k, v in out.losses.items()}})
            if hasattr(sae, "topk_threshold"):
                thresholds.append(float(sae.topk_threshold.item()))
            return out

        sae.training_forward_pass = recording
        tcfg = SAETrainerConfig(n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False, total_training_samples=STEPS * BATCH,
                                device="cpu", autocast=False, lr=LR, lr_end=LR / 10, lr_scheduler_name="constant", lr_warm_up_steps=0,
                                adam_beta1=0.9, adam_beta2=0.999, lr_decay_steps=0, n_restart_cycles=1, train_batch_size_samples=BATCH,
                                dead_feature_window=1, feature_sampling_window=1000, logger=LoggingConfig(log_to_wandb=False))
        trainer = SAETrainer(tcfg, sae, iter(batches))
        trainer.fit()
        final = {k: v.detach().clone() for k, v in sae.state_dict().items()}
        tensors = {f"init.{k}": v for k, v in init.items() if v.dim() > 0}
        tensors.update({f"final.{k}": v for k, v in final.items() if v.dim() > 0})
        tensors["batches"] = data
        write_safetensors(tensors, os.path.join(out_dir, f"{name}.safetensors"))
        folder = os.path.join(out_dir, f"{name}_inference")
        shutil.rmtree(folder, ignore_errors=True)
        sae.save_inference_model(folder)
        info = {"architecture": cfg.architecture(), "config": {k: v for k, v in cfg.to_dict().items() if k != "metadata"},
                "lr": LR, "steps": STEPS, "batch": BATCH, "dead_feature_window": 1, "losses": losses, "topk_threshold": thresholds,
                "dead_after": trainer.dead_neurons.int().tolist()}
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(info, f, indent=1)
        loaded = SAE.load_from_disk(folder)
        probe = torch.randn(7, D_IN) * 0.8
        with torch.no_grad():
            expected[name] = {"x": tolist(probe), "x_shape": list(probe.shape), "feature_acts": tolist(loaded.encode(probe)),
                              "sae_out": tolist(loaded(probe)), "architecture": loaded.cfg.architecture()}
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def check_saelab(sl):
    """SAELens reads the saelab-trained folders and encodes a probe input with them."""
    from sae_lens.saes.sae import SAE
    base = os.path.join(ROOT, "saelab_trained")
    expected = {}
    torch.manual_seed(2)
    for name in sorted(os.listdir(base)):
        folder = os.path.join(base, name)
        if not os.path.isdir(folder):
            continue
        loaded = SAE.load_from_disk(folder)
        probe = torch.randn(9, loaded.cfg.d_in)
        with torch.no_grad():
            expected[name] = {"x": tolist(probe), "x_shape": list(probe.shape), "feature_acts": tolist(loaded.encode(probe)),
                              "sae_out": tolist(loaded(probe)), "architecture": loaded.cfg.architecture(), "class": type(loaded).__name__}
    with open(os.path.join(base, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--saelens", required=True, help="SAELens checkout at v6.18.0")
    ap.add_argument("--check-saelab", action="store_true", help="only write saelab_trained/expected.json")
    args = ap.parse_args()
    sl = import_saelens(args.saelens)
    assert sl.__version__ == "6.18.0", sl.__version__
    if args.check_saelab:
        check_saelab(sl)
        return
    transcoders(sl)
    training(sl)


if __name__ == "__main__":
    main()
