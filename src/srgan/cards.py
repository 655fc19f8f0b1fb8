"""Model cards: the Markdown tables of ``srgan models --markdown`` (README, docs/models.md) and
the training summary that packaging writes into a card, from its JSON fields."""

from __future__ import annotations

__all__ = [
    "loss_summary",
    "architecture_summary",
    "stage_summary",
    "training_stages",
    "recipe_summary",
    "steps_summary",
    "first_init",
    "models_markdown",
]


def loss_summary(recipe: dict) -> str:
    """'1 x L1 pixel + 0.001 x adversarial' from a training config dict (the term list, or the
    flat loss section of configs written before the loss registry)."""
    from .losses import describe, legacy_terms

    loss = recipe.get("loss", {})
    terms = legacy_terms(loss, recipe.get("stage", "srresnet")) if isinstance(loss, dict) else loss
    return describe(terms)


def degradation_summary(recipe: dict) -> str:
    """How the training LR was made, when it was not plain bicubic: the recipe's data.degradation as JSON."""
    import json

    spec = recipe.get("data", {}).get("degradation") or {"type": "bicubic"}
    return "" if spec == {"type": "bicubic"} else f"`{json.dumps(spec)}`"


def architecture_summary(g) -> str:
    """'srresnet B=16 C=64': the architecture and its size."""
    extra = {"num_blocks": "B", "channels": "C"}
    return " ".join([g.arch, *(f"{extra[k]}={v}" for k, v in g.hparams.items() if k in extra)])


def stage_summary(recipe: dict, steps: object) -> dict:
    """The model-card row of one training stage, from its config dict."""
    d, o = recipe.get("data", {}), recipe.get("optim", {})
    return {
        "name": recipe.get("name", "?"),
        "steps": steps,
        "crop": d.get("crop", "?"),
        "batch_size": d.get("batch_size", "?"),
        "lr": o.get("lr", "?"),
        "schedule": o.get("schedule", ""),
        "init_generator": recipe.get("init_generator"),
        "precision": {"none": "fp32", None: None}.get(recipe.get("amp"), recipe.get("amp")),
    }


def training_stages(t: dict) -> list[dict]:
    """A card's training stages: ``training.stages`` of a multi-stage recipe, else its one recipe."""
    return t.get("stages") or [stage_summary(t.get("recipe", {}), t.get("steps", "?"))]


def recipe_summary(t: dict) -> str:
    return "; then ".join(
        f"{s['name']}: batch {s['batch_size']}, {s['crop']} px crops, lr {s['lr']} {s['schedule']}"
        + (f", {s['precision']}" if s.get("precision") else "")
        for s in training_stages(t)
    )


def steps_summary(t: dict) -> str:
    stages = training_stages(t)
    return (
        str(t.get("steps", "?"))
        if len(stages) == 1
        else f"{' + '.join(str(s['steps']) for s in stages)} = {t.get('steps', '?')}"
    )


def first_init(t: dict) -> str | None:
    """Where training started: the card's free-text ``initialised_from`` if set, else the first stage's init."""
    init = training_stages(t)[0].get("init_generator")
    return t.get("initialised_from") or (f"`{init}`" if init else None)


def models_markdown() -> str:
    """The model-card table (README / docs/models.md) from the packaged JSON cards."""
    from .hub import count_parameters, load_generator, packaged_models

    lines = []
    for name, path in packaged_models().items():
        g, cfg = load_generator(path)
        t, m, b = cfg.get("training", {}), cfg.get("metrics", {}), cfg.get("bicubic", {})
        sp = cfg.get("speed", {})
        lines += [
            f"### `{name}`",
            "",
            cfg.get("description", ""),
            "",
            "| | |",
            "|---|---|",
            f"| architecture | {architecture_summary(g)}, x{g.scale}, {count_parameters(g):,} parameters |",
            f"| data | {t.get('data', '?')} |",
            *([f"| degradation | {deg} |"] if (deg := degradation_summary(t.get("recipe", {}))) else []),
            f"| recipe | {recipe_summary(t)}, EMA weights: {t.get('ema', '?')} |",
            f"| loss | {'last stage: ' if len(training_stages(t)) > 1 else ''}{loss_summary(t.get('recipe', {}))} |",
            *([f"| initialised from | {init} |"] if (init := first_init(t)) else []),
            f"| steps | {steps_summary(t)} |",
            f"| hardware, time | {t.get('hardware', '?')}, {t.get('hours', '?')} h |",
            f"| speed | {sp.get('s_per_mp', '?')} s per output MP ({sp.get('lr_size', '?')}x{sp.get('lr_size', '?')} "
            f"LR, {sp.get('threads', '?')} CPU threads, {sp.get('cpu', '?')}) |",
            "",
            f"| set (x{g.scale}, Y, shave {g.scale}) | {name} PSNR / SSIM | bicubic PSNR / SSIM | gain (dB) |",
            "|---|---:|---:|---:|",
        ]
        real, real_b = cfg.get("metrics_real_world", {}), cfg.get("bicubic_real_world", {})
        for set_name, v in [*m.items(), *real.items()]:
            bb = {**b, **real_b}.get(set_name, {})
            gain = f"{v['psnr'] - bb['psnr']:+.2f}" if bb else ""
            lines.append(
                f"| {set_name} | {v['psnr']:.2f} / {v['ssim']:.4f} | {bb.get('psnr', float('nan')):.2f} / "
                f"{bb.get('ssim', float('nan')):.4f} | {gain} |"
            )
        lines.append("")
    return "\n".join(lines)
