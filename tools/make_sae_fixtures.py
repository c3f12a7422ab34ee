"""Write the SAE fixture folders under test/fixtures/sae/ the way SAELens lays them out, and the
expected outputs for them computed here with numpy from SAELens's documented formulas (an
independent reference for the TypeScript implementation).

usage: python3 tools/make_sae_fixtures.py   (from the repository root; needs numpy only)
"""
import json
import os
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "sae")


def f32_to_bf16_bits(a):
    u = np.asarray(a, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: name -> float array. Written in the safetensors layout (header JSON, then raw LE data)."""
    header, chunks, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr, dtype=np.float32)
        if dtype == "F32":
            raw = arr.astype("<f4").tobytes()
        elif dtype == "BF16":
            raw = f32_to_bf16_bits(arr).astype("<u2").tobytes()
        elif dtype == "F16":
            raw = arr.astype("<f2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def write_folder(name, cfg, weights, dtype="F32", sparsity=None, extra=None):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "cfg.json"), "w") as f:
        json.dump(cfg, f)
    w = dict(weights)
    if extra:
        w.update(extra)
    write_safetensors(os.path.join(d, "sae_weights.safetensors"), w, dtype)
    if sparsity is not None:
        write_safetensors(os.path.join(d, "sparsity.safetensors"), {"sparsity": sparsity})


# ---- reference maths (SAELens 6 semantics) ----

def normalize_in(mode, x):
    if mode == "constant_norm_rescale":
        c = np.sqrt(x.shape[-1]) / np.linalg.norm(x, axis=-1, keepdims=True)
        return x * c, ("c", c)
    if mode == "layer_norm":
        mu = x.mean(-1, keepdims=True)
        xc = x - mu
        std = xc.std(-1, ddof=1, keepdims=True)
        return xc / (std + 1e-5), ("ln", std, mu)
    return x, None


def normalize_out(state, y):
    if state is None:
        return y
    if state[0] == "c":
        return y / state[1]
    return y * state[1] + state[2]


def reference(cfg, w, x):
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    if cfg["reshape_activations"] == "hook_z":
        x = x.reshape(*shape[:-2], shape[-2] * shape[-1])
    lead = x.shape[:-1]
    x2 = x.reshape(-1, cfg["d_in"])
    xn, state = normalize_in(cfg["normalize_activations"], x2)
    if cfg["apply_b_dec_to_input"]:
        xn = xn - w["b_dec"]
    arch = cfg["architecture"]
    if arch == "standard":
        f = np.maximum(xn @ w["W_enc"] + w["b_enc"], 0)
    elif arch == "jumprelu":
        pre = xn @ w["W_enc"] + w["b_enc"]
        f = np.maximum(pre, 0) * (pre > w["threshold"])
    elif arch == "gated":
        gate = (xn @ w["W_enc"] + w["b_gate"]) > 0
        mag = np.maximum(xn @ (w["W_enc"] * np.exp(w["r_mag"])) + w["b_mag"], 0)
        f = gate * mag
    elif arch == "topk":
        pre = xn @ w["W_enc"] + w["b_enc"]
        norms = np.linalg.norm(w["W_dec"], axis=-1)
        if cfg.get("rescale_acts_by_decoder_norm"):
            pre = pre * norms
        f = np.zeros_like(pre)
        idx = np.argsort(-pre, axis=-1, kind="stable")[:, : cfg["k"]]
        for r in range(pre.shape[0]):
            f[r, idx[r]] = np.maximum(pre[r, idx[r]], 0)
    acts = f / np.linalg.norm(w["W_dec"], axis=-1) if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm") else f
    y = normalize_out(state, acts @ w["W_dec"] + w["b_dec"])
    out = y.reshape(shape)
    return f.reshape(*lead, cfg["d_sae"]), out


def main():
    rng = np.random.default_rng(1234)
    expected = {}

    def record(name, cfg_eff, w, x):
        f, y = reference(cfg_eff, {k: np.asarray(v, np.float64) for k, v in w.items()}, x)
        expected[name] = {"x": np.asarray(x).tolist(), "x_shape": list(np.shape(x)), "feature_acts": f.ravel().tolist(),
                          "feature_shape": list(f.shape), "sae_out": y.ravel().tolist()}

    # 1. v6 jumprelu, F32, with sparsity (as SAELens 6.18 save_model writes cfg.to_dict())
    d_in, d_sae = 3, 4
    w = {"W_dec": rng.normal(size=(d_sae, d_in)).round(3), "W_enc": rng.normal(size=(d_in, d_sae)).round(3),
         "b_dec": rng.normal(size=d_in).round(3), "b_enc": rng.normal(size=d_sae).round(3),
         "threshold": np.array([0.1, -0.5, 0.3, 0.05])}
    cfg = {"d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": "6.18.0", "sae_lens_training_version": "6.18.0", "model_name": "tiny-model",
                        "hook_name": "blocks.1.hook_resid_post", "hook_head_index": None, "prepend_bos": True,
                        "context_size": 16, "dataset_path": "some/dataset",
                        "model_from_pretrained_kwargs": {"center_writing_weights": False}},
           "architecture": "jumprelu"}
    write_folder("v6_jumprelu", cfg, w, sparsity=np.log10(np.array([0.5, 0.01, 1e-4, 0.2])))
    record("v6_jumprelu", cfg, w, rng.normal(size=(2, 3, d_in)).round(3))

    # 2. v6 topk with rescale, BF16 weights (values bf16-exact), layer_norm
    w = {"W_dec": np.array([[1, 0.5, 0], [0, 2, 1], [1, -1, 1], [0.25, 0, 3]]), "W_enc": np.array([[1, 0, 2, -1], [0.5, 1, 0, 1], [0, -1, 1, 0.5]]),
         "b_dec": np.array([0.5, 0, -0.25]), "b_enc": np.array([0, 0.5, -0.5, 0.25])}
    cfg = {"d_in": 3, "d_sae": 4, "dtype": "bfloat16", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "layer_norm", "reshape_activations": "none",
           "metadata": {"sae_lens_version": "6.5.1", "sae_lens_training_version": "6.5.1", "model_name": "tiny-model",
                        "hook_name": "blocks.0.hook_mlp_out", "hook_head_index": None, "prepend_bos": False, "context_size": 8},
           "architecture": "topk", "k": 2, "rescale_acts_by_decoder_norm": True}
    write_folder("v6_topk_bf16", cfg, w, dtype="BF16")
    record("v6_topk_bf16", cfg, w, rng.normal(size=(5, 3)).round(3))

    # 3. v6 gated, constant_norm_rescale
    w = {"W_dec": rng.normal(size=(4, 3)).round(3), "W_enc": rng.normal(size=(3, 4)).round(3), "b_dec": rng.normal(size=3).round(3),
         "b_gate": rng.normal(size=4).round(3), "b_mag": rng.normal(size=4).round(3), "r_mag": rng.normal(size=4).round(3) * 0.5}
    cfg = {"d_in": 3, "d_sae": 4, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
           "normalize_activations": "constant_norm_rescale", "reshape_activations": "none",
           "metadata": {"sae_lens_version": "6.0.0", "hook_name": "blocks.2.hook_resid_pre", "model_name": "tiny-model"},
           "architecture": "gated"}
    write_folder("v6_gated", cfg, w)
    record("v6_gated", cfg, w, rng.normal(size=(4, 3)).round(3))

    # 4. pre-6.0 standard, GPT-2-small-res-jb style flat cfg (no sae_lens_version, torch dtype, unit scaling_factor)
    w = {"W_enc": rng.normal(size=(3, 4)).round(3), "W_dec": rng.normal(size=(4, 3)).round(3),
         "b_enc": rng.normal(size=4).round(3), "b_dec": rng.normal(size=3).round(3)}
    cfg = {"model_name": "gpt2-small", "hook_point": "blocks.2.hook_resid_pre", "hook_point_layer": 2, "hook_point_head_index": None,
           "dataset_path": "Skylion007/openwebtext", "is_dataset_tokenized": False, "context_size": 128, "use_cached_activations": False,
           "cached_activations_path": "activations/Skylion007_openwebtext/gpt2-small/blocks.2.hook_resid_pre", "d_in": 3,
           "n_batches_in_buffer": 128, "total_training_tokens": 300000000, "store_batch_size": 32, "device": "mps", "seed": 42,
           "dtype": "torch.float32", "b_dec_init_method": "geometric_median", "expansion_factor": 32, "from_pretrained_path": None,
           "l1_coefficient": 8e-05, "lr": 0.0004, "lr_scheduler_name": None, "lr_warm_up_steps": 5000, "train_batch_size": 4096,
           "use_ghost_grads": False, "feature_sampling_window": 1000, "feature_sampling_method": None, "resample_batches": 1028,
           "feature_reinit_scale": 0.2, "dead_feature_window": 5000, "dead_feature_estimation_method": "no_fire",
           "dead_feature_threshold": 1e-08, "log_to_wandb": True, "wandb_project": "mats_sae_training_gpt2_small_resid_pre_5",
           "wandb_entity": None, "wandb_log_frequency": 100, "n_checkpoints": 10,
           "checkpoint_path": "checkpoints/y1t51byy", "d_sae": 4, "tokens_per_buffer": 67108864, "run_name": "24576-L1-8e-05-LR-0.0004-Tokens-3.000e+08"}
    write_folder("pre6_standard_gpt2style", cfg, w, extra={"scaling_factor": np.ones(4)})
    eff = {"architecture": "standard", "d_in": 3, "d_sae": 4, "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none"}
    record("pre6_standard_gpt2style", eff, w, rng.normal(size=(2, 2, 3)).round(3))

    # 5. pre-6.0 (5.x) topk via activation_fn_str + kwargs, normalize_activations boolean false, nested metadata ignored
    w = {"W_enc": rng.normal(size=(3, 4)).round(3), "W_dec": rng.normal(size=(4, 3)).round(3),
         "b_enc": rng.normal(size=4).round(3), "b_dec": rng.normal(size=3).round(3)}
    cfg = {"architecture": "standard", "d_in": 3, "d_sae": 4, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 2},
           "apply_b_dec_to_input": False, "finetuning_scaling_factor": False, "context_size": 64, "model_name": "tiny-model",
           "hook_name": "blocks.3.hook_resid_post", "hook_layer": 3, "hook_head_index": None, "prepend_bos": True,
           "dataset_path": "x/y", "dataset_trust_remote_code": True, "normalize_activations": False, "dtype": "float32",
           "device": "cpu", "sae_lens_training_version": "5.9.1", "sae_lens_version": "5.9.1",
           "metadata": {"hook_name": "should.be.ignored"}}
    write_folder("pre6_topk_v5", cfg, w)
    eff = {"architecture": "topk", "k": 2, "d_in": 3, "d_sae": 4, "apply_b_dec_to_input": False, "normalize_activations": "none", "reshape_activations": "none"}
    record("pre6_topk_v5", eff, w, rng.normal(size=(3, 3)).round(3))

    # 6. pre-6.0 hook_z (reshape inferred from the hook name), 2 heads x d_head 2
    w = {"W_enc": rng.normal(size=(4, 3)).round(3), "W_dec": rng.normal(size=(3, 4)).round(3),
         "b_enc": rng.normal(size=3).round(3), "b_dec": rng.normal(size=4).round(3)}
    cfg = {"d_in": 4, "d_sae": 3, "dtype": "float32", "device": "cpu", "model_name": "tiny-model", "hook_point": "blocks.0.attn.hook_z",
           "hook_point_layer": 0, "hook_point_head_index": None, "context_size": 32, "normalize_activations": "none"}
    write_folder("pre6_hook_z", cfg, w)
    eff = {"architecture": "standard", "d_in": 4, "d_sae": 3, "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "hook_z"}
    record("pre6_hook_z", eff, w, rng.normal(size=(2, 3, 2, 2)).round(3))

    # 7. Gemma Scope params.npz (deflated, as np.savez_compressed), jumprelu, apply_b_dec_to_input false, d_in 2304
    d_in, d_sae = 2304, 4
    W_enc = np.zeros((d_in, d_sae), np.float32)
    W_dec = np.zeros((d_sae, d_in), np.float32)
    for j in range(d_sae):
        W_enc[j, j] = 1.0 + j
        W_enc[d_in - 1, j] = -0.5
        W_dec[j, j] = 2.0
        W_dec[j, 100 + j] = 1.0
    b_enc = np.array([0.1, -0.2, 0.0, 0.3], np.float32)
    b_dec = np.zeros(d_in, np.float32)
    b_dec[:4] = [1, 2, 3, 4]
    threshold = np.array([0.5, 0.5, 2.0, -1.0], np.float32)
    gs = os.path.join(ROOT, "gemma_scope", "layer_3", "tiny", "average_l0_2")
    os.makedirs(gs, exist_ok=True)
    np.savez_compressed(os.path.join(gs, "params.npz"), W_enc=W_enc, W_dec=W_dec, b_enc=b_enc, b_dec=b_dec, threshold=threshold)
    w = {"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc, "b_dec": b_dec, "threshold": threshold}
    x = np.zeros((2, d_in))
    x[0, :4] = [1.0, 0.1, 1.5, -2.0]
    x[0, d_in - 1] = 0.4
    x[1, :4] = [0.2, 1.0, 0.1, 0.0]
    eff = {"architecture": "jumprelu", "d_in": d_in, "d_sae": d_sae, "apply_b_dec_to_input": False, "normalize_activations": "none", "reshape_activations": "none"}
    f, y = reference(eff, {k: v.astype(np.float64) for k, v in w.items()}, x)
    nz = [(r, c) for r in range(2) for c in range(d_in) if x[r, c] != 0]
    expected["gemma_scope"] = {"x_nonzero": [[r, c, float(x[r, c])] for r, c in nz], "x_shape": [2, d_in],
                               "feature_acts": f.ravel().tolist(), "sae_out_nonzero": [[r, c, float(y[r, c])] for r in range(2) for c in range(d_in) if y[r, c] != 0]}

    # 8. a stored (uncompressed) npz with float64, int32 and float16 arrays, for the reader
    np.savez(os.path.join(ROOT, "stored.npz"), a=np.arange(6, dtype=np.float64).reshape(2, 3) / 4, b=np.array([-3, 7], np.int32),
             c=np.array([0.5, -1.25, 2048], np.float16))

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main()
