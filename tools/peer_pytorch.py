#!/usr/bin/env python3
"""Peer benchmark for `priorft bench`: trains the same model shapes with PyTorch +
transformers (fp32, 2 threads, eager attention) on random token batches of the same B x T,
one step = forward, mean NLL over all tokens, backward, grad-norm clip, AdamW step, and prints
tokens/s (wall and per CPU-second of each thread), the share of a given GEMM peak and the peak
RSS, per shape and length. Each row runs in its own process so that its peak RSS is its own.

usage: peer_pytorch.py [--shapes smollm2-135m,qwen2.5-0.5b] [--seqs 512,2048] [--batch 1]
                       [--steps 1] [--peak GFLOPS,CPU_GFLOPS] [--threads 2]
Run with /work/main/.venv/bin/python (torch 1.13 CPU, transformers 4.38.2)."""
import argparse
import os
import resource
import subprocess
import sys
import time

SHAPES = {
    # name: (dim, layers, heads, kv_heads, hidden, vocab, qkv_bias)
    "smollm2-135m": (576, 30, 9, 3, 1536, 49152, False),
    "qwen2.5-0.5b": (896, 24, 14, 2, 4864, 151936, True),
}


def flop_per_token(shape, T, n_params):
    """The formula priorft bench uses: 6 per (GEMM) parameter + causal attention."""
    dim, layers = shape[0], shape[1]
    return 6.0 * n_params + 6.0 * layers * dim * T


def build_model(name):
    import torch
    import transformers
    dim, layers, heads, kv, hidden, vocab, bias = SHAPES[name]
    common = dict(hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv, intermediate_size=hidden, vocab_size=vocab,
                  tie_word_embeddings=True, max_position_embeddings=4096,
                  torch_dtype=torch.float32)
    if bias:
        cfg = transformers.Qwen2Config(rms_norm_eps=1e-6, rope_theta=1e6, **common)
        cfg._attn_implementation = "eager"
        return transformers.Qwen2ForCausalLM(cfg)
    cfg = transformers.LlamaConfig(rms_norm_eps=1e-5, rope_theta=1e5, **common)
    cfg._attn_implementation = "eager"
    return transformers.LlamaForCausalLM(cfg)


def run_row(name, T, B, steps, threads, peak):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(name).float().train()
    n_params = sum(p.numel() for p in model.parameters())  # tied head counted once
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.01)
    vocab = SHAPES[name][5]
    g = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, vocab, (B, T), generator=g)
    targets = torch.randint(0, vocab, (B, T), generator=g)
    total = cpu_total = 0.0
    for step in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        logits = model(input_ids=tokens).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, vocab), targets.view(-1))
        loss.backward()
        del logits
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t, c = time.perf_counter() - t0, (time.process_time() - c0) / threads
        print(f"step {step}: {t:.2f} s, loss {loss.item():.4f}"
              + (" (warm-up, not counted)" if step == 0 else ""), file=sys.stderr, flush=True)
        if step > 0:
            total += t
            cpu_total += c
    ft = flop_per_token(SHAPES[name], T, n_params)
    tps, ctps = B * T * steps / total, B * T * steps / cpu_total
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1048576.0
    share = 100.0 * ft * tps / 1e9 / peak[0] if peak else float("nan")
    cshare = 100.0 * ft * ctps / 1e9 / peak[1] if peak else float("nan")
    print(f"row: {name}|{B}|{T}|{tps:.1f}|{share:.1f}|{ctps:.1f}|{cshare:.1f}|{rss:.2f}|"
          f"{n_params / 1e6:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="smollm2-135m,qwen2.5-0.5b")
    ap.add_argument("--seqs", default="512,2048")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peak", default="", help="GFLOPS,CPU_GFLOPS from priorft bench")
    ap.add_argument("--row", default="", help=argparse.SUPPRESS)  # child: NAME,T
    a = ap.parse_args()
    peak = tuple(float(x) for x in a.peak.split(",")) if a.peak else None
    if a.row:
        name, T = a.row.split(",")
        run_row(name, int(T), a.batch, a.steps, a.threads, peak)
        return
    rows = []
    for name in a.shapes.split(","):
        for T in a.seqs.split(","):
            cmd = [sys.executable, os.path.abspath(__file__), "--row", f"{name},{T}",
                   "--batch", str(a.batch), "--steps", str(a.steps), "--threads",
                   str(a.threads)] + (["--peak", a.peak] if a.peak else [])
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            sys.stdout.write(p.stdout)
            got = [l[5:].strip() for l in p.stdout.splitlines() if l.startswith("row: ")]
            if p.returncode != 0 or not got:
                rows.append(f"{name}|{a.batch}|{T}|failed (exit {p.returncode})")
            else:
                rows.append(got[0])
    print("\n| shape | B x T | tokens/s | % of GEMM peak | tokens/s per CPU | "
          "% of peak per CPU | peak RSS GiB |\n|---|---|---|---|---|---|---|")
    for r in rows:
        f = r.split("|")
        if len(f) < 9:
            print(f"| {f[0]} | {f[1]} x {f[2]} | {f[3]} | | | | |")
            continue
        print(f"| {f[0]} | {f[1]} x {f[2]} | {f[3]} | {float(f[4]):.0f}% | {f[5]} | "
              f"{float(f[6]):.0f}% | {f[7]} |")


if __name__ == "__main__":
    main()
