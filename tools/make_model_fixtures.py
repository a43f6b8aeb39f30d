#!/usr/bin/env python3
"""Writes the reference fixtures for the checkpoint loaders into tests/fixtures/models/.

Tiny random models saved by transformers (save_pretrained, safetensors):
  llama_gqa/      LlamaForCausalLM, GQA (4 heads, 2 kv heads), untied, F32, one file
  llama3_bf16/    LlamaForCausalLM with llama3 rope_scaling, tied, saved in BF16 (its ref
                  also holds rope_inv_freq F32 (HD/2), the scaled inverse frequencies used)
  qwen2_sharded/  Qwen2ForCausalLM (q/k/v biases, tied), F32, sharded with an index.json
Each folder also holds ref.safetensors with, for the fixed token sequence TOKENS:
  tokens  I32 (T)            the input ids
  logits  F32 (T, V)         model(tokens).logits in fp32
  loss    F32 (1)            mean NLL of labels = tokens (transformers shifts: T-1 targets)
  grad.<HF name> F32         .grad of every parameter after loss.backward() (a tied model's
                             embedding gradient includes the lm_head contribution)
For the BF16 model the forward/backward run on the bf16 weights cast to fp32.

Converted copies, written here independently of the C code:
  llama_gqa.gguf       llama_gqa as GGUF v3, F32, q/k rows permuted as llama.cpp's converter
  qwen2_f16.gguf       qwen2_sharded as GGUF v3, F16 matrices (no permutation for qwen2)
  llama_gqa_v0.bin     llama_gqa as a llama2.c v0 checkpoint (untied: negative vocab)
  llama_gqa_v1.bin     llama_gqa as a llama2.c v1 ("ak42") checkpoint
  quants.gguf          q.<TYPE>: quantised blocks, ref.<TYPE>: gguf.quants.dequantize of them;
                       plus metadata of every kind for the reader's API tests.
Run: .venv/bin/python tools/make_model_fixtures.py
"""
import json
import os
import struct

import numpy as np
import torch
from safetensors.torch import save_file
import gguf
from gguf import GGMLQuantizationType as QT
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "models")
TOKENS = [1, 17, 5, 42, 63, 0, 9, 33]
COMMON = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=64, max_position_embeddings=128,
              rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)


LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 16}


def llama3_inv_freq(theta, head_dim, s):
    freqs = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    old = s["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / s["low_freq_factor"], old / s["high_freq_factor"]
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / s["factor"])
        else:
            smooth = (old / wavelen - s["low_freq_factor"]) / (s["high_freq_factor"] -
                                                               s["low_freq_factor"])
            out.append((1 - smooth) * f / s["factor"] + smooth * f)
    return torch.tensor(out, dtype=torch.float32)


def reference(model, folder, extra=None):
    model.float()
    model.zero_grad()
    ids = torch.tensor([TOKENS])
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    ref = {"tokens": torch.tensor(TOKENS, dtype=torch.int32),
           "logits": out.logits[0].detach().contiguous(),
           "loss": out.loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad.detach().contiguous()
    ref.update(extra or {})
    save_file(ref, os.path.join(folder, "ref.safetensors"))


def make_hf_models():
    torch.manual_seed(0)
    models = {}
    cfg = LlamaConfig(**COMMON, tie_word_embeddings=False, rope_theta=10000.0)
    m = LlamaForCausalLM(cfg).eval()
    d = os.path.join(OUT, "llama_gqa")
    m.save_pretrained(d, safe_serialization=True)
    reference(m, d)
    models["llama_gqa"] = m

    # transformers 4.38 predates llama3 rope_scaling: build the model unscaled, set the scaled
    # inverse frequencies (Meta's Llama 3.1 apply_scaling, written out below) into every
    # layer's rotary embedding, and write the rope_scaling into config.json afterwards.
    cfg = LlamaConfig(**COMMON, tie_word_embeddings=True, rope_theta=500000.0)
    m = LlamaForCausalLM(cfg).eval().to(torch.bfloat16)
    inv_freq = llama3_inv_freq(cfg.rope_theta, cfg.hidden_size // cfg.num_attention_heads,
                               LLAMA3_SCALING)
    for layer in m.model.layers:
        layer.self_attn.rotary_emb.inv_freq = inv_freq.clone()
    d = os.path.join(OUT, "llama3_bf16")
    m.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    config["rope_scaling"] = LLAMA3_SCALING
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    reference(m, d, {"rope_inv_freq": inv_freq})

    cfg = Qwen2Config(**COMMON, tie_word_embeddings=True, rope_theta=1000000.0)
    m = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # random init leaves biases at zero; make them visible
        for layer in m.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.1)
    d = os.path.join(OUT, "qwen2_sharded")
    m.save_pretrained(d, safe_serialization=True, max_shard_size="40KB")
    reference(m, d)
    models["qwen2"] = m
    return models


def llama_cpp_permute(w, n_head):
    # As llama.cpp's convert_hf_to_gguf.py LlamaModel.permute.
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


GGUF_NAMES = {"input_layernorm.weight": "attn_norm.weight",
              "self_attn.q_proj.weight": "attn_q.weight",
              "self_attn.k_proj.weight": "attn_k.weight",
              "self_attn.v_proj.weight": "attn_v.weight", "self_attn.q_proj.bias": "attn_q.bias",
              "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
              "self_attn.o_proj.weight": "attn_output.weight",
              "post_attention_layernorm.weight": "ffn_norm.weight",
              "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
              "mlp.down_proj.weight": "ffn_down.weight"}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    return "blk.%s.%s" % (parts[2], GGUF_NAMES[".".join(parts[3:])])


def write_gguf(model, arch, path, f16):
    cfg = model.config
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, p in model.state_dict().items():
        if "rotary_emb" in name or (name == "lm_head.weight" and cfg.tie_word_embeddings):
            continue
        a = p.detach().float().numpy()
        if arch == "llama" and "q_proj" in name:
            a = llama_cpp_permute(a, cfg.num_attention_heads)
        if arch == "llama" and "k_proj" in name:
            a = llama_cpp_permute(a, cfg.num_key_value_heads)
        if f16 and a.ndim == 2:
            a = a.astype(np.float16)
        w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama2c_permute(w, n_heads):
    # As llama2.c's export.py permute_reverse (HF rotate-half -> Meta interleaved).
    dim1, dim2 = w.shape
    return w.view(n_heads, 2, dim1 // n_heads // 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def write_llama2c(model, path, version):
    cfg = model.config
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    L = cfg.num_hidden_layers
    lay = lambda s: [sd["model.layers.%d.%s" % (i, s)] for i in range(L)]
    wq = [llama2c_permute(t, cfg.num_attention_heads) for t in lay("self_attn.q_proj.weight")]
    wk = [llama2c_permute(t, cfg.num_key_value_heads) for t in lay("self_attn.k_proj.weight")]
    shared = cfg.tie_word_embeddings
    hdr = [cfg.hidden_size, cfg.intermediate_size, L, cfg.num_attention_heads,
           cfg.num_key_value_heads, cfg.vocab_size, cfg.max_position_embeddings]
    with open(path, "wb") as f:
        if version == 0:
            hdr[5] = cfg.vocab_size if shared else -cfg.vocab_size
            f.write(struct.pack("7i", *hdr))
            ws = ([sd["model.embed_tokens.weight"]] + lay("input_layernorm.weight") + wq + wk +
                  lay("self_attn.v_proj.weight") + lay("self_attn.o_proj.weight") +
                  lay("post_attention_layernorm.weight") + lay("mlp.gate_proj.weight") +
                  lay("mlp.down_proj.weight") + lay("mlp.up_proj.weight") +
                  [sd["model.norm.weight"]])
            hd = cfg.hidden_size // cfg.num_attention_heads
            ws.append(torch.full((cfg.max_position_embeddings * hd,), 7.0))  # freq_cis, skipped
        else:
            f.write(struct.pack("I", 0x616B3432) + struct.pack("i", 1))
            f.write(struct.pack("7i", *hdr) + struct.pack("B", int(shared)))
            f.write(b"\0" * (256 - f.tell()))
            ws = ([sd["model.norm.weight"]] + lay("input_layernorm.weight") +
                  lay("post_attention_layernorm.weight") + [sd["model.embed_tokens.weight"]] +
                  wq + wk + lay("self_attn.v_proj.weight") + lay("self_attn.o_proj.weight") +
                  lay("mlp.gate_proj.weight") + lay("mlp.down_proj.weight") +
                  lay("mlp.up_proj.weight"))
        if not shared:
            ws.append(sd["lm_head.weight"])
        for t in ws:
            f.write(t.contiguous().numpy().astype("<f4").tobytes())


def random_k_blocks(rng, qtype, n_blocks):
    """Random K-quant blocks whose f16 scale fields are small finite numbers."""
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    halves = lambda: rng.uniform(-0.05, 0.05, size=n_blocks).astype(np.float16).view(np.uint8)
    at = {QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208]}
    if qtype == QT.Q8_K:
        b[:, 0:4] = rng.uniform(0.001, 0.01, size=n_blocks).astype(np.float32).view(
            np.uint8).reshape(n_blocks, 4)
    for off in at.get(qtype, []):
        b[:, off:off + 2] = halves().reshape(n_blocks, 2)
    return b


def write_quants():
    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(os.path.join(OUT, "quants.gguf"), "llama")
    w.add_string("test.string", "héllo")
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -7)
    w.add_float32("test.f32", 0.25)
    w.add_float64("test.f64", -1.5)
    w.add_bool("test.bool", True)
    w.add_array("test.strings", ["a", "", "bcd"])
    w.add_array("test.floats", [0.5, -2.0, 3.25])
    w.add_array("test.ints", [1, -2, 3])
    x = rng.normal(0, 1, size=(2, 512)).astype(np.float32)
    for qt in (QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0):
        q = gguf.quants.quantize(x, qt)
        w.add_tensor("q." + qt.name, q, raw_dtype=qt)
        w.add_tensor("ref." + qt.name, gguf.quants.dequantize(q, qt).astype(np.float32))
    for qt in (QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.Q8_K):
        q = random_k_blocks(rng, qt, 4).reshape(2, -1)
        w.add_tensor("q." + qt.name, q, raw_dtype=qt)
        if qt == QT.Q8_K:  # gguf-py has no Q8_K dequantizer: float32 d times int8 quants
            blocks = q.reshape(-1, 292)
            d = blocks[:, 0:4].copy().view(np.float32)
            ref = (d * blocks[:, 4:260].view(np.int8).astype(np.float32)).reshape(2, -1)
        else:
            ref = gguf.quants.dequantize(q, qt).astype(np.float32)
        w.add_tensor("ref." + qt.name, ref)
    w.add_tensor("q.F16", x.astype(np.float16))
    w.add_tensor("ref.F16", x.astype(np.float16).astype(np.float32))
    bf = (x.view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("q.BF16", bf.view(np.uint8).reshape(2, -1), raw_dtype=QT.BF16)
    w.add_tensor("ref.BF16", (bf.astype(np.uint32) << 16).view(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    models = make_hf_models()
    write_gguf(models["llama_gqa"], "llama", os.path.join(OUT, "llama_gqa.gguf"), f16=False)
    write_gguf(models["qwen2"], "qwen2", os.path.join(OUT, "qwen2_f16.gguf"), f16=True)
    write_llama2c(models["llama_gqa"], os.path.join(OUT, "llama_gqa_v0.bin"), 0)
    write_llama2c(models["llama_gqa"], os.path.join(OUT, "llama_gqa_v1.bin"), 1)
    write_quants()


if __name__ == "__main__":
    main()
