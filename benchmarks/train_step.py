"""Training-step throughput: srgan's trainer against loops written like the spec's code.

    python benchmarks/train_step.py --train ../shared/data/train [--blocks 16] [--steps 4] [--profile]

Variants, each for the SRResNet stage, the SRGAN stage without VGG and with VGG
(random VGG19 weights: same cost), batch 16, 96 px crops, round-robin in one process:
  naive     the spec's loop: NCHW, images decoded and cropped per sample with PIL
            (PIL bicubic LR), a new tensor per step, sigmoid + BCE on probabilities
  cl-eager  the same loop with channels_last model and inputs
  ours      srgan's stage objects and data pipeline (cached images, MATLAB-bicubic LR,
            channels_last, BCE on logits), in each mode of --modes:
              fp32        the trainer as it was before (torch.nn.PReLU, unfused tail): the baseline
              fast        fp32 with srgan's PReLU (srgan.models.activations) and fused_tail: what
                          `srgan train` runs on a CPU without bf16 units (AVX2)
              bf16        the baseline in bf16 autocast (amp: bf16)
              bf16+fast   both: what `amp: auto` runs on a CPU with bf16 units
              ...+gfirst  any of them with `gan_order: g_first` (SRGAN stage: G's step first, D's
                          step on the same fake pass; 2 discriminator passes instead of 3)
              ...+compile any of them with G and D under torch.compile (`compile: true`); the
                          compile happens in the warm-up step, which is not timed
Like `srgan train`, it tunes glibc's malloc (srgan.hardware.tune_allocator) unless SRGAN_MALLOC=system.
Prints steps/s and speed-ups over fp32, and with --profile the top operators of one step of the
last mode per stage. The machine line says which CPU flags and oneDNN ISA the run used.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import srgan.losses.functional as functional
import srgan.train.stages as stages
from srgan.data import ImageCache, RandomCropDataset, list_images
from srgan.losses import VGGLoss
from srgan.models import Discriminator, Generator
from srgan.train import load_config


class NaiveData:
    """The spec's TrainDatasetFromFolder: decode per sample, random crop, PIL bicubic LR."""

    def __init__(self, root: str, crop: int = 96, scale: int = 4) -> None:
        self.paths = [p for p in list_images(root) if min(Image.open(p).size) >= crop]
        self.crop, self.scale = crop, scale

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        lrs, hrs = [], []
        for _ in range(n):
            im = Image.open(random.choice(self.paths)).convert("RGB")
            x, y = random.randint(0, im.width - self.crop), random.randint(0, im.height - self.crop)
            hr = im.crop((x, y, x + self.crop, y + self.crop))
            lr = hr.resize((self.crop // self.scale,) * 2, Image.BICUBIC)
            hrs.append(np.asarray(hr, np.float32).transpose(2, 0, 1) / 255)
            lrs.append(np.asarray(lr, np.float32).transpose(2, 0, 1) / 255)
        return torch.Tensor(np.stack(lrs)), torch.Tensor(np.stack(hrs))  # a new tensor per step, as in the spec


def naive_step(g, d, opt_g, opt_d, vgg, data, batch, stage, channels_last):
    lr, hr = data.batch(batch)
    if channels_last:
        lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
    if stage == "srresnet":
        opt_g.zero_grad()
        F.mse_loss(g(lr), hr).backward()
        opt_g.step()
        return
    fake = g(lr)
    opt_d.zero_grad()
    real_out = torch.sigmoid(d(hr))
    fake_out = torch.sigmoid(d(fake.detach()))
    (
        F.binary_cross_entropy(real_out, torch.ones_like(real_out))
        + F.binary_cross_entropy(fake_out, torch.zeros_like(fake_out))
    ).backward()
    opt_d.step()
    opt_g.zero_grad()
    out = torch.sigmoid(d(fake))
    loss = F.mse_loss(fake, hr) + 1e-3 * torch.mean(-torch.log(out + 1e-6))
    if vgg is not None:
        loss = loss + 6e-3 * vgg(fake, hr)
    loss.backward()
    opt_g.step()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per variant (after one warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", nargs="+", default=["srresnet", "srgan", "srgan+vgg"])
    ap.add_argument("--modes", nargs="+", default=["fp32", "fast", "bf16", "bf16+fast"])
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from srgan.hardware import tune_allocator

    tuned = tune_allocator()  # as `srgan train` does (SRGAN_MALLOC=system: glibc's defaults)
    random.seed(0)
    torch.manual_seed(0)
    functional.load_vgg19_weights = lambda path=None: None  # random VGG19 weights: same cost
    cache = ImageCache(args.train, min_size=96)
    naive_data = NaiveData(args.train)
    ds = RandomCropDataset(cache, 4, 96, seed=0)
    counter = [0]

    def our_batch():
        k0 = counter[0]
        counter[0] += args.batch
        items = [ds[k] for k in range(k0, k0 + args.batch)]
        lr = torch.stack([a for a, _ in items]).contiguous(memory_format=torch.channels_last)
        hr = torch.stack([b for _, b in items]).contiguous(memory_format=torch.channels_last)
        return lr, hr

    from srgan.hardware import isa_report

    print(f"B={args.blocks}, batch {args.batch}, 96 px, {args.threads} threads, torch {torch.__version__}")
    print(f"machine: {isa_report()}, malloc {'tuned' if tuned else 'system'}\n")
    modes = args.modes
    if modes[0] != "fp32":
        ap.error("--modes must start with fp32 (the baseline the speed-ups are relative to)")
    print(
        "| stage | naive | cl-eager | "
        + " | ".join(modes)
        + " | "
        + " | ".join(f"{m} / fp32" for m in modes[1:])
        + " |"
    )
    print("|---|" + "---:|" * (2 + 2 * len(modes) - 1))
    prof_stages = {}
    for stage in args.stages:
        gan, use_vgg = stage.startswith("srgan"), stage.endswith("vgg")
        raw = {
            "stage": "srgan" if gan else "srresnet",
            "data": {"train": ["x"]},
            "model": {"num_blocks": args.blocks},
            "loss": {"pixel": "mse", "vgg_weight": 6e-3 if use_vgg else 0.0},
        }
        variants = {}
        for name in ("naive", "cl-eager"):
            cl = name == "cl-eager"
            fmt = torch.channels_last if cl else torch.contiguous_format
            g, d = Generator(4, args.blocks).to(memory_format=fmt), Discriminator().to(memory_format=fmt)
            og, od = (
                torch.optim.Adam(g.parameters(), 1e-4, betas=(0.9, 0.99)),
                torch.optim.Adam(d.parameters(), 1e-4, betas=(0.9, 0.99)),
            )
            vgg = VGGLoss("relu5_3").to(memory_format=fmt) if use_vgg else None
            variants[name] = lambda g=g, d=d, og=og, od=od, vgg=vgg, cl=cl: naive_step(
                g, d, og, od, vgg, naive_data, args.batch, "srgan" if gan else "srresnet", cl
            )
        dev = torch.device("cpu")
        for mode in modes:
            flags = set(mode.split("+"))
            order = "g_first" if "gfirst" in flags else "d_first"
            cfg = load_config(raw={**raw, "amp": "bf16" if "bf16" in flags else "none", "gan_order": order})
            g = Generator(4, args.blocks)
            if "fast" in flags:
                g.fused_tail = True
            else:  # the baseline's activation: PyTorch's PReLU
                for m in list(g.modules()):
                    for name, child in m.named_children():
                        if isinstance(child, torch.nn.PReLU):
                            setattr(m, name, torch.nn.PReLU().requires_grad_(True))
            g = g.to(memory_format=torch.channels_last)
            d = Discriminator().to(memory_format=torch.channels_last)
            if "compile" in flags:  # as the trainer's `compile: true` wraps them
                g, d = torch.compile(g), torch.compile(d)
            st = stages.SRGANStage(g, d, cfg, dev) if gan else stages.SRResNetStage(g, cfg, dev)
            variants[mode] = lambda st=st: st.train_step(*our_batch())
        times = {k: [] for k in variants}
        for f in variants.values():
            f()  # warm-up
        for _ in range(args.steps):
            for k, f in variants.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
        sps = {k: 1 / statistics.median(v) for k, v in times.items()}
        cells = [f"{sps[k]:.3f}" for k in ("naive", "cl-eager", *modes)]
        cells += [f"{sps[m] / sps['fp32']:.2f}x" for m in modes[1:]]
        print(f"| {stage} | " + " | ".join(cells) + " |")
        prof_stages[stage] = variants[modes[-1]]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for stage, step in prof_stages.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
            print(f"\nProfile of one step of {modes[-1]} ({stage}), top operators by self CPU time:\n")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
