"""Turn a training run into a shipped model: EMA weights + a model card JSON.

    python scripts/package_model.py runs/srresnet-x4 srresnet-x4 --bench ../shared/data/benchmarks \
        --hardware "2-core AVX2 CPU" --hours 1.9
    python scripts/package_model.py runs/srgan-x4/checkpoints/ckpt_000001500.pt srgan-x4 ...

RUN is a run folder (its newest checkpoint), one checkpoint file, or a .safetensors file with its
training config in the metadata (from scripts/timed_train.py or `srgan export-weights`).
``--update-speed NAME`` only re-measures the speed of a packaged model and rewrites its card.

Writes src/srgan/weights/<name>.safetensors and <name>.json. Benchmark numbers
come from the same code path as `srgan evaluate` (Y channel, shave=scale).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from srgan.api import SRModel  # noqa: E402
from srgan.cards import stage_summary, training_stages  # noqa: E402
from srgan.evaluate import bicubic_method, evaluate_set, model_method  # noqa: E402
from srgan.hardware import cpu_name  # noqa: E402
from srgan.hub import packaged_models, save_generator  # noqa: E402
from srgan.train.checkpoint import generator_from_run  # noqa: E402


def measure_speed(model: SRModel, threads: int, size: int = 512, repeats: int = 3) -> dict:
    """Median seconds per output megapixel for a size x size LR input, shipped inference path."""
    import statistics
    import time

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    x = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    model.upscale(x[:64, :64])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.upscale(x)
        times.append(time.perf_counter() - t)
    mp = (size * model.scale) ** 2 / 1e6
    return {
        "s_per_mp": round(statistics.median(times) / mp, 3),
        "lr_size": size,
        "threads": threads,
        "cpu": cpu_name(),
    }


def update_speed(name: str, threads: int) -> int:
    from srgan.api import from_pretrained

    card_path = ROOT / "src" / "srgan" / "weights" / f"{name}.json"
    card = json.loads(card_path.read_text())
    card["speed"] = measure_speed(from_pretrained(name, device="cpu"), threads=threads)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{name}: speed {card['speed']}")
    return 0


def load_trained(run: str) -> tuple:
    """``(generator, state, path)`` from a run folder, a checkpoint, or a ``.safetensors`` file
    written by ``scripts/timed_train.py`` / ``srgan export-weights`` (training config in its metadata)."""
    if run.endswith(".safetensors"):
        from srgan.hub import load_generator

        g, meta = load_generator(run)
        t = meta.get("training")
        if not t or "recipe" not in t:
            raise SystemExit(f"{run}: no training config in its metadata; package a run folder or checkpoint instead")
        return g, {"config": json.dumps(t["recipe"]), "step": t["steps"], "ema": t.get("ema")}, Path(run)
    return generator_from_run(run)


def stage_chain(recipe: dict, earlier: list[str] = (), name: str | None = None) -> list[dict]:
    """Earlier stages, oldest first. ``earlier`` names exported stages explicitly (oldest first: runs
    made elsewhere, such as a lent GPU, whose run folders are not here); then ``init_generator`` is
    followed while it names a training run folder (``{previous}`` in a multi-stage recipe). Where the
    oldest stage started from a packaged model, that model's card contributes its own stages if
    there are earlier stages here, or if it is the model being packaged (``name``: a further stage
    of the same model). A different model's start, such as srgan-x4 from srresnet-x4, stays a
    start ("initialised from")."""
    chain, init = [], recipe.get("init_generator")
    pending = list(reversed(earlier))  # newest first, like the init_generator links
    while pending or (init and Path(init).is_dir()):
        _, state, _ = load_trained(pending.pop(0) if pending else init)
        cfg = json.loads(state["config"])
        chain.insert(0, stage_summary(cfg, state["step"]))
        init = cfg.get("init_generator")
    parent = packaged_models().get(init) if init else None
    if (chain or (name is not None and init == name)) and parent is not None and parent.with_suffix(".json").is_file():
        chain[:0] = training_stages(json.loads(parent.with_suffix(".json").read_text()).get("training", {}))
    return chain


def main() -> int:
    from srgan.hardware import tune_allocator

    tune_allocator()  # the speed on the card is what `srgan upscale` gets
    if len(sys.argv) >= 3 and sys.argv[1] == "--update-speed":
        return update_speed(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder (newest checkpoint), a checkpoint file, or an exported .safetensors")
    ap.add_argument("name")
    ap.add_argument("--bench", required=True, help="folder holding Set5/ and Set14/")
    ap.add_argument("--hardware", required=True)
    ap.add_argument("--hours", type=float, required=True, help="wall-clock training hours")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for the speed measurement")
    ap.add_argument(
        "--data", default="BSDS500 train+test, T91, Sun-Hays80: 570 images, 127 MP (569 are at least 96 px and used)"
    )
    ap.add_argument("--description", help="one line for the card (default: from the training stage)")
    ap.add_argument(
        "--mmse-reference", help="the model's PSNR-oriented partner (--alpha, maps); default: its init for GANs"
    )
    ap.add_argument(
        "--real-world",
        action="append",
        default=[],
        metavar="PRESET",
        help="also measure Set5/Set14 with LR made by this srgan.degradations preset (repeatable)",
    )
    ap.add_argument(
        "--earlier",
        action="append",
        default=[],
        metavar="SAFETENSORS",
        help="an exported earlier stage of this model (repeat, oldest first), for stages trained elsewhere",
    )
    args = ap.parse_args()

    g, state, path = load_trained(args.run)
    recipe = json.loads(state["config"])
    model = SRModel(g, {"name": args.name}, device="cpu")
    metrics, bicubic = {}, {}
    for set_name in ("Set5", "Set14"):
        r = evaluate_set(
            Path(args.bench) / set_name, g.scale, [bicubic_method(g.scale), model_method(args.name, model)]
        )
        metrics[set_name] = {k: round(v, 4) for k, v in r.mean(args.name).items()}
        bicubic[set_name] = {k: round(v, 4) for k, v in r.mean("bicubic").items()}
        print(f"{set_name} x{g.scale}: {args.name} {metrics[set_name]}  bicubic {bicubic[set_name]}")
    real, real_bicubic = {}, {}
    for preset in args.real_world:  # as `srgan evaluate --degradation PRESET`
        for set_name in ("Set5", "Set14"):
            methods = [bicubic_method(g.scale), model_method(args.name, model)]
            r = evaluate_set(Path(args.bench) / set_name, g.scale, methods, degradation=preset)
            real[f"{set_name} {preset}"] = {k: round(v, 4) for k, v in r.mean(args.name).items()}
            real_bicubic[f"{set_name} {preset}"] = {k: round(v, 4) for k, v in r.mean("bicubic").items()}
            key = f"{set_name} {preset}"
            print(f"{key}: {args.name} {real[key]}  bicubic {real_bicubic[key]}")
    speed = measure_speed(model, threads=args.threads)
    print(f"speed: {speed}")
    gan = recipe.get("stage") == "srgan"
    kind = "SRGAN generator" if gan else "SRResNet"
    aim = "perceptual, adversarially fine-tuned (Sec. 2.2)" if gan else "PSNR-oriented (Ledig et al. 2017, Sec. 3.3)"
    card = {
        "name": args.name,
        "description": args.description or f"{kind} x{g.scale}, B={g.num_blocks}, {aim}",
        "metrics": metrics,
        "bicubic": bicubic,
        **({"metrics_real_world": real, "bicubic_real_world": real_bicubic} if real else {}),
        "speed": speed,
        "metric_protocol": "Y channel (BT.601), shave scale px, SSIM Gaussian 11/1.5; shared Set5/Set14 with "
        "MATLAB-bicubic LR",
        "training": {
            "data": args.data,
            "steps": state["step"],
            "hardware": args.hardware,
            "hours": args.hours,
            "ema": bool(state.get("ema")),
            "checkpoint": path.name,
            "recipe": recipe,
        },
    }
    earlier = stage_chain(recipe, args.earlier, args.name)
    if earlier:  # a multi-stage recipe: the card lists every stage and the total step count
        card["training"]["stages"] = earlier + [stage_summary(recipe, state["step"])]
        card["training"]["steps"] = sum(st["steps"] for st in card["training"]["stages"])
    if gan and recipe.get("init_generator"):
        card["mmse_reference"] = recipe["init_generator"]  # the alpha = 0 end of the perception-distortion knob
    if args.mmse_reference:
        card["mmse_reference"] = args.mmse_reference
    out = ROOT / "src" / "srgan" / "weights"
    save_generator(g, out / f"{args.name}.safetensors", {"name": args.name})
    (out / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out / args.name}.safetensors and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
