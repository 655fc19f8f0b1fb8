"""Benchmark evaluation: bicubic and models on HR/LR folders, tables and figures."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .data import PairedImages
from .faithfulness import lr_consistency
from .imresize import imresize
from .metrics import evaluate_pair

__all__ = [
    "Method",
    "bicubic_method",
    "model_method",
    "SetResult",
    "REFERENCE",
    "evaluate_set",
    "format_markdown",
    "write_reports",
    "find_benchmark_dir",
]

Upscaler = Callable[[np.ndarray], np.ndarray]  # uint8 LR (HxW or HxWx3) -> uint8 SR of the same kind


@dataclass
class Method:
    name: str
    upscale: Upscaler


def bicubic_method(scale: int) -> Method:
    """MATLAB-compatible bicubic upscaling: the field's baseline."""
    return Method("bicubic", lambda lr: imresize(lr, scale))


def model_method(name: str, model) -> Method:
    """A loaded :class:`srgan.SRModel` as an evaluation method (8-bit output, like a saved PNG)."""

    return Method(name, model.upscale)  # uint8 in, uint8 out; gray stays gray


REFERENCE = "HR (ground truth)"


@dataclass
class SetResult:
    set_name: str
    scale: int
    per_image: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # method -> image -> metrics
    seconds: dict[str, float] = field(default_factory=dict)
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # image -> HR's own measures

    def mean(self, method: str) -> dict[str, float]:
        rows = list(self.reference.values() if method == REFERENCE else self.per_image[method].values())
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    def worst(self, method: str, key: str) -> tuple[str, float]:
        """The image with the largest ``key`` (an artefact measure) and its value."""
        rows = self.reference if method == REFERENCE else self.per_image[method]
        name, row = max(rows.items(), key=lambda kv: kv[1][key])
        return name, row[key]

    @property
    def methods(self) -> list[str]:
        return list(self.per_image)


def scale_folders(path: str | Path) -> dict[int, Path]:
    """The ``x<N>`` subfolders of a benchmark set, by scale."""
    p = Path(path)
    if not p.is_dir():
        return {}
    return {
        int(d.name[1:]): d for d in sorted(p.iterdir()) if d.is_dir() and d.name[:1] == "x" and d.name[1:].isdigit()
    }


def find_benchmark_dir(path: str | Path, scale: int) -> Path:
    """Accept ``Set5/x4``, or ``Set5`` holding an ``x4`` folder, or a plain HR folder. A set with
    ``x<N>`` folders but none for ``scale`` gives the HR images of its largest scale, from which
    the LR is made with MATLAB bicubic (never the files of another scale's LR folder)."""
    p = Path(path)
    folders = scale_folders(p)
    if scale in folders:
        return folders[scale]
    if folders:
        hr = folders[max(folders)] / "HR"
        if not hr.is_dir():
            raise FileNotFoundError(
                f"{p} has no x{scale}/ folder and {folders[max(folders)]} has no HR/ to make it from"
            )
        return hr
    return p


def evaluate_set(
    root: str | Path,
    scale: int,
    methods: list[Method],
    on_image: Callable[[str, np.ndarray, np.ndarray, dict[str, np.ndarray], dict], None] | None = None,
    niqe_params: dict | None = None,
    artefacts: bool = False,
    degradation: str | None = None,
    only: Sequence[str] = (),
    reference: bool = False,
) -> SetResult:
    """Run every method on every image of a benchmark folder (Y-channel PSNR/SSIM, shave=scale;
    LR-consistency PSNR; NIQE when ``niqe_params`` is given; the measures of
    :mod:`srgan.artifacts` when ``artefacts``). ``degradation``: a preset of
    :mod:`srgan.degradations` that makes the LR from the HR (seed 0, as ``srgan degrade``).
    ``only``: glob patterns of the HR file names to use. ``reference``: also measure HR itself
    (its NIQE and artefact measures, in :attr:`SetResult.reference`, reported as
    :data:`REFERENCE`): the values a model is held to."""
    pairs = PairedImages(find_benchmark_dir(root, scale), scale, degradation, only=only)
    result = SetResult(pairs.name, scale, {m.name: {} for m in methods}, {m.name: 0.0 for m in methods})
    for name, lr, hr in pairs:
        outputs = {}
        for m in methods:
            t = time.perf_counter()
            sr = m.upscale(lr)
            result.seconds[m.name] += time.perf_counter() - t
            outputs[m.name] = sr
            result.per_image[m.name][name] = {**evaluate_pair(sr, hr, scale), "lr_psnr": lr_consistency(sr, lr, scale)}
            if niqe_params is not None:
                from .niqe import niqe_image

                result.per_image[m.name][name]["niqe"] = niqe_image(sr, niqe_params, border=scale)
            if artefacts:
                from .artifacts import measures

                result.per_image[m.name][name].update(measures(sr, hr, scale))
        if reference and (niqe_params is not None or artefacts):
            from .artifacts import measures
            from .niqe import niqe_image

            result.reference[name] = measures(hr, hr, scale) if artefacts else {}
            if niqe_params is not None:
                result.reference[name]["niqe"] = niqe_image(hr, niqe_params, border=scale)
        if on_image:
            on_image(name, lr, hr, outputs, {m: result.per_image[m][name] for m in outputs})
    return result


def format_markdown(results: list[SetResult]) -> str:
    """One Markdown table per set: method, PSNR, SSIM, MSE, LR-consistency (NIQE when measured);
    then, when measured, one table of artefact measures (mean, and the worst image)."""
    from .artifacts import MEASURES

    lines = []
    for r in results:
        first = r.mean(r.methods[0])
        has_niqe = "niqe" in first
        lines += [
            f"### {r.set_name} x{r.scale} ({len(next(iter(r.per_image.values())))} images, Y channel, shave {r.scale})",
            "",
            "| method | PSNR (dB) | SSIM | MSE (RGB, [0,1]) | LR-consistency PSNR (dB) |"
            + (" NIQE |" if has_niqe else ""),
            "|---|---:|---:|---:|---:|" + ("---:|" if has_niqe else ""),
        ]
        for m in r.methods:
            s = r.mean(m)
            lines.append(
                f"| {m} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['mse']:.6f} | {s['lr_psnr']:.2f} |"
                + (f" {s['niqe']:.2f} |" if has_niqe else "")
            )
        if has_niqe and r.reference:
            lines.append(f"| {REFERENCE} | - | - | - | - | {r.mean(REFERENCE)['niqe']:.2f} |")
        lines.append("")
        measured = [k for k in MEASURES if k in first]
        if measured:
            lines += [
                f"Artefacts, {r.set_name} x{r.scale}: mean / worst image (see `srgan.artifacts`)",
                "",
                "| method | " + " | ".join(MEASURES[k] for k in measured) + " |",
                "|---|" + "---:|" * len(measured),
            ]
            refs = [REFERENCE] if r.reference and measured[0] in r.mean(REFERENCE) else []
            for m in r.methods + refs:
                s = r.mean(m)
                cells = [f"{s[k]:.2f} / {r.worst(m, k)[1]:.2f} ({r.worst(m, k)[0]})" for k in measured]
                lines.append(f"| {m} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def write_reports(
    results: list[SetResult], out_dir: str | Path, formats: tuple[str, ...] = ("md", "csv", "json")
) -> list[Path]:
    """Write ``results.{md,csv,json}`` (means and per-image values)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "md" in formats:
        written.append(out / "results.md")
        written[-1].write_text(format_markdown(results))
    if "csv" in formats:
        written.append(out / "results.csv")
        with written[-1].open("w", newline="") as f:
            keys = list(
                dict.fromkeys(k for r in results for m in r.methods for k in r.mean(m))
            )  # psnr, ssim, mse, lr_psnr, then measured extras
            w = csv.writer(f)
            w.writerow(["set", "scale", "method", "image", *keys])
            for r in results:
                for m in r.methods:
                    rows = [*r.per_image[m].items(), ("mean", r.mean(m))]
                    for img, s in rows:
                        w.writerow([r.set_name, r.scale, m, img, *(f"{s[k]:.8g}" if k in s else "" for k in keys)])
    if "json" in formats:
        written.append(out / "results.json")
        data = [
            {
                "set": r.set_name,
                "scale": r.scale,
                "methods": {
                    m: {"mean": r.mean(m), "seconds": r.seconds[m], "images": r.per_image[m]} for m in r.methods
                },
            }
            for r in results
        ]
        written[-1].write_text(json.dumps(data, indent=2))
    return written
