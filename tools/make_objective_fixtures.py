"""Writes tests/fixtures/objective/reference_losses.json: for a small random LM head, the loss and
the gradients on the hidden states and the head weight of every objective name, computed with
PyTorch autograd the way the reference trainer (GaotangLi/Beyond-Log-Likelihood,
main_verl/trainer/fsdp_sft_trainer.py) computes them: per-token loss from log_softmax, loss mask
multiplied by the threshold test, sum divided by the number of kept tokens (+1e-8). OnlyTopLogP
and OnlyBottomLogP follow that repository's README table; dft follows DFT (CE * p.detach()).
Run: .venv/bin/python tools/make_objective_fixtures.py"""
import json
import os

import torch

torch.manual_seed(0)
N, C, V = 12, 8, 50
hidden = torch.randn(N, C, dtype=torch.float64)
weight = torch.randn(V, C, dtype=torch.float64)
targets = torch.randint(0, V, (N,))
# Make a spread of p: push some rows towards their target, some away.
for i in range(N):
    gain = -4.0 + 14.0 * i / (N - 1)
    hidden[i] += gain * weight[targets[i]] / weight[targets[i]].norm() ** 2
hidden = hidden.float().double()  # values exactly representable in fp32
weight = weight.float().double()
targets[3] = -100  # not a response token (ignore index)
targets[8] = -100
resp = (targets >= 0).double()

NAMES = ["original", "logp", "p", "GeneralFamily-0.01", "GeneralFamily-2", "GeneralFamily-10",
         "OnlyTopP-0.2", "OnlyBottomP-0.5", "OnlyTopLogP-0.3", "OnlyBottomLogP-0.6", "dft"]


def reference_loss(name, h, w):
    logits = h @ w.T
    y = targets.clamp(min=0)
    mask = resp.clone()
    if name == "original":
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="none") * mask
    else:
        log_p = torch.log_softmax(logits, dim=-1).gather(1, y.unsqueeze(-1)).squeeze(-1)
        prob = log_p.exp()
        if name == "p":
            loss = (1 - prob) * mask
        elif name == "logp":
            loss = -log_p * mask
        elif name.startswith("GeneralFamily-"):
            q = float(name.split("-")[1])
            loss = -(torch.exp(q * log_p) - 1) / q * mask
        elif name.startswith("OnlyTopP-"):
            mask = mask * (prob >= float(name.split("-")[1]))
            loss = (1 - prob) * mask
        elif name.startswith("OnlyBottomP-"):
            mask = mask * (prob <= float(name.split("-")[1]))
            loss = (1 - prob) * mask
        elif name.startswith("OnlyTopLogP-"):
            mask = mask * (prob >= float(name.split("-")[1]))
            loss = -log_p * mask
        elif name.startswith("OnlyBottomLogP-"):
            mask = mask * (prob <= float(name.split("-")[1]))
            loss = -log_p * mask
        elif name == "dft":
            loss = -log_p * prob.detach() * mask
        else:
            raise ValueError(name)
    kept = mask.sum()
    return loss.sum() / (kept + 1e-8), int(kept.item())


cases = []
for name in NAMES:
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    loss, kept = reference_loss(name, h, w)
    loss.backward()
    cases.append({"name": name, "loss": loss.item(), "kept": kept,
                  "d_hidden": [round(x, 12) for x in h.grad.flatten().tolist()],
                  "d_weight": [round(x, 12) for x in w.grad.flatten().tolist()]})

out = {"n": N, "c": C, "v": V,
       "hidden": hidden.flatten().tolist(), "weight": weight.flatten().tolist(),
       "targets": [int(t) if t >= 0 else -1 for t in targets.tolist()],
       "cases": cases}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "objective",
                    "reference_losses.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, [(c["name"], c["kept"], round(c["loss"], 6)) for c in cases])
