"""Writes tests/fixtures/optim/adamw_reference.txt: parameters after 3 torch.optim.AdamW
steps (with weight decay on some entries only) and the lr of transformers' cosine schedule.
Run with .venv/bin/python (torch + transformers); the C test reads the file."""
import os
import torch
from transformers import get_cosine_schedule_with_warmup

out_dir = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "optim")
os.makedirs(out_dir, exist_ok=True)

torch.manual_seed(0)
p_decay = torch.nn.Parameter(torch.randn(5))
p_plain = torch.nn.Parameter(torch.randn(3))
opt = torch.optim.AdamW([{"params": [p_decay], "weight_decay": 0.1},
                         {"params": [p_plain], "weight_decay": 0.0}],
                        lr=0.01, betas=(0.9, 0.95), eps=1e-8)
init = torch.cat([p_decay.detach(), p_plain.detach()]).clone()
grads = [torch.randn(8) for _ in range(3)]
lrs = [0.01, 0.005, 0.02]
for g, lr in zip(grads, lrs):
    for group in opt.param_groups:
        group["lr"] = lr
    p_decay.grad = g[:5].clone()
    p_plain.grad = g[5:].clone()
    opt.step()
final = torch.cat([p_decay.detach(), p_plain.detach()])

sched_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
sched = get_cosine_schedule_with_warmup(sched_opt, num_warmup_steps=3, num_training_steps=20)
cosine = []
for _ in range(20):
    cosine.append(sched.get_last_lr()[0])
    sched_opt.step()
    sched.step()

def row(name, values):
    return name + " " + " ".join(repr(float(v)) for v in values) + "\n"

with open(os.path.join(out_dir, "adamw_reference.txt"), "w") as f:
    f.write(row("init", init))
    for i, g in enumerate(grads):
        f.write(row(f"grad{i}", g))
    f.write(row("lr", lrs))
    f.write(row("final", final))
    f.write(row("cosine_w3_t20_peak5e-5", cosine))
