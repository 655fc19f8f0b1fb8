"""The ``srgan`` command line: upscale, evaluate, models, demo, train, convert, serve, export.

Exit codes: 0 success; 1 some inputs failed (each reported on one line);
2 bad usage, a missing model or an unusable configuration.
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
import warnings
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CPU_WORKERS = 1
log = logging.getLogger("srgan")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _error(msg: str) -> None:
    print(f"srgan: error: {msg}", file=sys.stderr)


# --- upscale ----------------------------------------------------------------------------


def _expand_inputs(items: list[str]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for files, folders (recursive) and globs."""
    from .data import list_images

    out: list[tuple[Path, Path]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += [(f, f.relative_to(p)) for f in list_images(p)]
        elif p.exists():
            out.append((p, Path(p.name)))
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                out.append((p, Path(p.name)))  # reported as missing when read
            out += [(Path(m), Path(Path(m).name)) for m in matches if Path(m).is_file()]
    return out


def _output_path(
    src: Path, rel: Path, out: Path, single_file_target: bool, fmt: str | None, has_alpha_hint: bool
) -> Path:
    if single_file_target:
        return out
    ext = f".{fmt}" if fmt else src.suffix.lower()
    if ext not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"):
        ext = ".png"
    return out / rel.parent / f"{rel.stem}{ext}"


def _cmd_upscale(args: argparse.Namespace) -> int:
    import json
    import time

    import numpy as np
    from tqdm import tqdm

    from .api import from_pretrained
    from .data import IMAGE_EXTENSIONS
    from .faithfulness import MAX_PROJECTION_SIDE, RESTORING_NOTE, enforce_consistency, lr_consistency
    from .image_io import ImageError, check_format_size, read_image, write_image

    inputs = _expand_inputs(args.inputs)
    if not inputs:
        raise CLIError(
            f"no images found in {', '.join(args.inputs)} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    out = Path(args.output)
    single = len(inputs) == 1 and out.suffix.lower() in OUTPUT_SUFFIXES and not out.is_dir()
    if not single and out.exists() and not out.is_dir():
        raise CLIError(f"{out} is a file; give a folder for {len(inputs)} inputs, or an image name for one")
    loaded: dict[str, object] = {}

    def load(name: str):
        if name not in loaded:
            loaded[name] = from_pretrained(
                name,
                device=args.device,
                half=args.half,
                allow_pickle=args.allow_pickle,
                tile=args.tile or None,
                precision=args.precision,
                workers=args.workers,
                alpha=args.alpha,
                reference=args.alpha_reference,
            )
        return loaded[name]

    auto = args.model == AUTO_MODEL
    clean = _model_for_scale(None if auto else args.model, args.scale)
    photo = _photo_model(clean) if auto else None
    model = load(clean)
    if args.scale and model.scale != args.scale:
        raise CLIError(f"--scale {args.scale}: {model.name} upscales x{model.scale}; the scale comes from the model")
    if model.restores and args.enforce_consistency:
        print(
            f"srgan: warning: {model.name}: --enforce-consistency re-imposes the input's JPEG blocks and noise, "
            "which this model was trained to remove",
            file=sys.stderr,
        )
    reference_model = _mmse_reference(model, args) if args.hallucination_map else None
    failed = 0
    bar = tqdm(inputs, disable=args.quiet or len(inputs) < 2 or None, unit="img", desc=f"{model.name} x{model.scale}")
    for src, rel in bar:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                img = read_image(src, max_pixels=args.max_pixels)
            for w in caught:
                print(f"srgan: warning: {src}: {w.message}", file=sys.stderr)
            if photo and img.jpeg_quality is not None and img.jpeg_quality < AUTO_JPEG_QUALITY:
                model = load(photo)  # a compressed photo: the model trained to remove JPEG blocks
            elif auto:
                model = load(clean)
            dst = _output_path(src, rel, out, single, args.format, img.alpha is not None)
            if dst.suffix.lower() in (".jpg", ".jpeg") and img.alpha is not None:
                dst = dst.with_suffix(".png")
            if dst.resolve() == src.resolve():
                raise ImageError(f"{dst}: output would replace its own input")
            compare_path = dst.with_name(f"{dst.stem}_compare.png") if args.compare else None
            report_path = dst.with_name(f"{dst.stem}.report.json") if args.report else None
            map_path = None
            if args.hallucination_map:
                target = Path(args.hallucination_map)
                map_path = target if single and target.suffix else target / rel.parent / f"{rel.stem}_hallucination.png"
            for p in (dst, compare_path, report_path, map_path):  # every file it would write, before any work
                if p is not None and p.exists() and not args.overwrite:
                    raise ImageError(f"{p}: already exists (use --overwrite to replace it)")
            if args.format:
                check_format_size(args.format, img.size[0] * model.scale, img.size[1] * model.scale)
            if args.enforce_consistency and max(img.size) > MAX_PROJECTION_SIDE:
                raise ImageError(
                    f"{src}: --enforce-consistency supports inputs up to {MAX_PROJECTION_SIDE} px per side"
                )
            if args.max_output_pixels and img.size[0] * img.size[1] * model.scale**2 > args.max_output_pixels:
                raise ImageError(
                    f"{src}: output would be {img.size[0] * model.scale}x{img.size[1] * model.scale}, over "
                    "--max-output-pixels"
                )
            t0 = time.perf_counter()
            with tqdm(total=0, unit="tile", leave=False, disable=args.quiet or None, desc=src.name) as tiles:
                sr = model.upscale_data(img, progress=_tile_progress(tiles))
            if args.enforce_consistency:
                sr.color = enforce_consistency(sr.color, img.color, model.scale).astype(np.float32)
            seconds = time.perf_counter() - t0
            if not args.no_provenance:
                from .provenance import make_record

                sr.provenance = make_record(
                    model.name, model.scale, img.size, alpha=model.config.get("alpha"), extra={"source": src.name}
                )
            if img.bit_depth == 16 and dst.suffix.lower() != ".png":
                print(
                    f"srgan: warning: {src}: 16-bit input written as 8-bit {dst.suffix}; use --format png to keep 16 "
                    "bits",
                    file=sys.stderr,
                )
            write_image(dst, sr, quality=args.quality, overwrite=args.overwrite)
            if compare_path is not None:
                _write_upscale_comparison(img, sr, model, compare_path)
            if map_path is not None:
                _write_hallucination_map(img, sr, reference_model, map_path)
            if report_path is not None:
                report = {
                    "input": str(src),
                    "output": str(dst),
                    "model": model.name,
                    "scale": model.scale,
                    "input_size": list(img.size),
                    "output_size": list(sr.size),
                    "seconds": round(seconds, 3),
                    "enforced_consistency": bool(args.enforce_consistency),
                    "lr_consistency_psnr": round(lr_consistency(sr.color, img.color, model.scale), 3),
                    **({"lr_consistency_note": RESTORING_NOTE} if model.restores else {}),
                }
                report_path.write_text(json.dumps(report, indent=2) + "\n")
            if not args.quiet:
                bar.write(f"{src} -> {dst} ({img.size[0]}x{img.size[1]} -> {sr.size[0]}x{sr.size[1]})", file=sys.stdout)
        except ImageError as exc:
            failed += 1
            bar.clear()
            _error(str(exc))
    if failed:
        _error(f"{failed} of {len(inputs)} inputs failed")
    return EXIT_SOME_FAILED if failed else EXIT_OK


AUTO_MODEL = "auto"
AUTO_JPEG_QUALITY = 90  # with -m auto, JPEGs below this IJG quality go to the -jpeg (else -real) model


def _photo_model(clean: str) -> str | None:
    """The packaged sibling of ``clean`` for compressed photos: ``-jpeg`` (trained on JPEG LR) if
    there is one, else ``-real`` (Real-ESRGAN's degradations), else None."""
    from .hub import model_for_source, packaged_models

    return model_for_source(clean, "photo", packaged_models())


OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def _tile_progress(bar):
    """A progress callback for ``SRModel.upscale_data`` that drives a tqdm bar (total set on the first call)."""

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)

    return update


def _model_for_scale(model: str | None, scale: int | None) -> str:
    """``-m`` if given (its scale is checked against ``--scale`` after loading), else the default
    model, or the packaged srresnet of ``--scale``; a scale no packaged model has is an error that
    lists the scales there are."""
    from .hub import DEFAULT_MODEL, packaged_models, read_config

    if model is not None:
        return model
    if scale is None:
        return DEFAULT_MODEL
    scales = {name: read_config(path).get("scale") for name, path in packaged_models().items()}
    if read_config(packaged_models()[DEFAULT_MODEL]).get("scale") == scale:
        return DEFAULT_MODEL
    matches = sorted(n for n, s in scales.items() if s == scale)
    if not matches:
        have = ", ".join(f"{n} (x{s})" for n, s in sorted(scales.items()))
        raise CLIError(f"--scale {scale}: no packaged model upscales x{scale}; the scale comes from the model: {have}")
    return next((n for n in matches if n.startswith("srresnet")), matches[0])


def _mmse_reference(model, args):
    """The SRResNet that a perceptual model's output is compared with (None: the model is its own reference)."""
    from .api import from_pretrained
    from .hub import mmse_reference, packaged_models

    ref_name = mmse_reference(model.config, model.scale)
    if ref_name == model.name or ref_name not in packaged_models():
        return None
    return from_pretrained(ref_name, device=args.device, tile=args.tile or None)


def _write_hallucination_map(img, sr, reference_model, path: Path) -> None:
    """Overlay of where the output departs from the MMSE (SRResNet) estimate, plus LR inconsistency."""
    from .faithfulness import hallucination_map, overlay, with_legend
    from .figures import save_rgb

    reference = sr if reference_model is None else reference_model.upscale_data(img)
    heat = hallucination_map(sr.color, reference.color, img.color, sr.color.shape[0] // img.color.shape[0])
    save_rgb(with_legend(overlay(sr.color, heat)), path, provenance=sr.provenance)


def _write_upscale_comparison(img, sr, model, path: Path, crop: int = 384) -> None:
    """LR (nearest) | bicubic | model at the output size; for large outputs, a 1:1 centre crop
    (``crop`` output pixels) is shown, since a whole downsized frame hides the difference."""
    import numpy as np

    from .figures import nearest_upscale, side_by_side
    from .imresize import imresize

    lr = img.color[..., 0] if img.is_gray else img.color
    out = sr.color[..., 0] if sr.is_gray else sr.color
    s = model.scale
    title = f"x{s} upscaling"
    h, w = out.shape[:2]
    if max(h, w) > 2 * crop:  # crop in LR coordinates so all three panels show the same region
        c = crop // s
        y0, x0 = (h // s - c) // 2, (w // s - c) // 2
        lr = lr[y0 : y0 + c, x0 : x0 + c]
        out = out[y0 * s : (y0 + c) * s, x0 * s : (x0 + c) * s]
        title += f" (1:1 centre crop, {c * s}x{c * s} output px)"
    panels = [
        ("input (nearest)", nearest_upscale(lr, s)),
        ("bicubic", np.clip(imresize(lr.astype(np.float64), s), 0, 1)),
        (model.name, out),
    ]
    side_by_side(panels, path, title=title, provenance=sr.provenance)


# --- evaluate ---------------------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import from_pretrained
    from .evaluate import bicubic_method, evaluate_set, format_markdown, model_method, scale_folders, write_reports
    from .figures import nearest_upscale, side_by_side

    models = [from_pretrained(m, device=args.device, allow_pickle=args.allow_pickle) for m in args.model]
    scales = {m.scale for m in models}
    if args.scale and scales - {args.scale}:
        raise CLIError(f"--scale {args.scale} does not match the models' scales {sorted(scales)}")
    if len(scales) > 1:
        raise CLIError(f"models have different scales {sorted(scales)}; evaluate them separately")
    scale = args.scale or (scales.pop() if scales else 4)
    methods = [bicubic_method(scale)]
    names = set()
    for spec, m in zip(args.model, models):
        name = m.name if m.name not in names else spec
        names.add(name)
        methods.append(model_method(name, m))
    for spec in args.model if args.alpha_curve else []:  # the perception-distortion curve of each model
        for alpha in args.alpha_curve:
            m = from_pretrained(spec, device=args.device, allow_pickle=args.allow_pickle, alpha=alpha)
            methods.append(model_method(m.name, m))
    niqe_params = None
    if args.niqe_params:
        from .niqe import load_pristine

        niqe_params = load_pristine(args.niqe_params)
    results = []
    for root in tqdm(args.datasets, desc="sets", unit="set", disable=len(args.datasets) < 2 or None):
        fig_dir = Path(args.out) / "figures" / Path(root).name if args.save_figures else None
        images = tqdm(desc=Path(root).name, unit="img", leave=False, disable=None)

        def figure(name, lr, hr, outputs, metrics, fig_dir=fig_dir, images=images):
            images.update(1)
            if fig_dir is None:
                return
            panels = [("original (HR)", hr), ("LR (nearest)", nearest_upscale(lr, scale))]
            panels += [
                (f"{m}\nMSE {metrics[m]['mse']:.5f}  PSNR {metrics[m]['psnr']:.2f} dB", sr) for m, sr in outputs.items()
            ]
            side_by_side(panels, fig_dir / f"{name}.png", title=f"{name} x{scale}")

        if not Path(root).exists():
            raise CLIError(f"benchmark folder {root} does not exist")
        have = scale_folders(root)
        if have and scale not in have:
            print(
                f"note: {root} has no x{scale}/ folder (it has {', '.join(f'x{k}' for k in have)}); its x{scale} LR "
                f"is made from {have[max(have)] / 'HR'} with MATLAB bicubic",
                file=sys.stderr,
            )
        for degradation in args.degradation or [None]:
            results.append(
                evaluate_set(
                    root,
                    scale,
                    methods,
                    figure,
                    niqe_params,
                    artefacts=args.artefacts,
                    degradation=degradation,
                    only=args.only or (),
                    reference=True,
                )
            )
        images.close()
    print(format_markdown(results))
    if args.out:
        for p in write_reports(results, args.out, tuple(args.formats.split(","))):
            print(f"wrote {p}")
    return EXIT_OK


# --- models / demo / train --------------------------------------------------------------


def _cmd_models(args: argparse.Namespace) -> int:
    from .cards import architecture_summary
    from .hub import count_parameters, load_generator, packaged_models

    if args.markdown:
        from .cards import models_markdown

        print(models_markdown())
        return EXIT_OK
    rows = []
    for name, path in packaged_models().items():
        g, cfg = load_generator(path)
        bench = cfg.get("metrics", {})
        score = "  ".join(f"{k} {v['psnr']:.2f}/{v['ssim']:.4f}" for k, v in bench.items()) or "not measured"
        rows.append(
            f"{name:<16} {architecture_summary(g):<22} {'x' + str(g.scale):<5} {count_parameters(g):>10,}  {score}"
        )
    if not rows:
        print("no packaged models installed")
        return EXIT_OK
    print(f"{'name':<16} {'architecture':<22} {'scale':<5} {'params':>10}  benchmarks (PSNR/SSIM, Y, shave=scale)")
    print("\n".join(rows))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """Make a real LR photo by x4 MATLAB-bicubic downscaling, upscale it and compare with the original."""
    import matplotlib.cbook
    import numpy as np

    from .api import from_pretrained
    from .figures import side_by_side
    from .image_io import ImageData, read_image, write_image
    from .imresize import imresize
    from .metrics import evaluate_pair

    model = from_pretrained(args.model, device=args.device)
    out = Path(args.output)
    names = ("input_lr.png", "bicubic.png", f"{model.name}.png", "comparison.png")
    existing = [n for n in names if (out / n).exists()]
    if existing and not args.overwrite:
        raise CLIError(f"{out} already holds {existing[0]}: use --overwrite to replace the demo's files, or another -o")
    src = args.image or matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hr8 = np.clip(np.floor(read_image(src).color * 255 + 0.5), 0, 255).astype(np.uint8)
    s = model.scale
    hr8 = hr8[: hr8.shape[0] - hr8.shape[0] % s, : hr8.shape[1] - hr8.shape[1] % s]
    if hr8.shape[2] == 1:
        hr8 = hr8[..., 0]
    lr8 = imresize(hr8, 1 / s)
    out.mkdir(parents=True, exist_ok=True)
    bic, sr = imresize(lr8, s), model.upscale(lr8)
    mb, ms = evaluate_pair(bic, hr8, s), evaluate_pair(sr, hr8, s)

    def as_data(a: np.ndarray) -> ImageData:
        return ImageData((a[..., None] if a.ndim == 2 else a).astype(np.float32) / 255.0)

    for name, arr in (("input_lr.png", lr8), ("bicubic.png", bic), (f"{model.name}.png", sr)):
        write_image(out / name, as_data(arr), overwrite=True)
    side_by_side(
        [
            ("original", hr8),
            (f"bicubic\nPSNR {mb['psnr']:.2f} dB  SSIM {mb['ssim']:.3f}", bic),
            (f"{model.name}\nPSNR {ms['psnr']:.2f} dB  SSIM {ms['ssim']:.3f}", sr),
        ],
        out / "comparison.png",
        title=f"x{s} super-resolution of a {lr8.shape[1]}x{lr8.shape[0]} input",
    )
    print(f"bicubic: PSNR {mb['psnr']:.2f} dB  SSIM {mb['ssim']:.4f}")
    print(f"{model.name}: PSNR {ms['psnr']:.2f} dB  SSIM {ms['ssim']:.4f}")
    print(f"wrote {out / 'comparison.png'}")
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from .train import Trainer
    from .train.checkpoint import load_latest_checkpoint
    from .train.recipes import load_recipe

    if bool(args.config) == bool(args.recipe):
        raise CLIError("give exactly one of --config FILE or --recipe NAME")
    data = [f"data.train={json.dumps(args.data)}"] if args.data else []
    data += [f"data.val={json.dumps(args.val)}"] if args.val else []
    stages = load_recipe(args.config or args.recipe, data + args.set, args.steps_factor, args.out)
    if args.stage:
        picked = [c for c in stages if c.name == args.stage]
        if not picked:
            raise CLIError(f"no stage '{args.stage}' (stages: {', '.join(c.name for c in stages)})")
        stages = picked
    if args.minutes and len(stages) > 1:
        raise CLIError(f"--minutes budgets one stage: pick it with --stage ({', '.join(c.name for c in stages)})")
    for cfg in stages:
        if args.vgg_weights:
            for term in cfg.loss:
                if term.get("type") == "vgg":
                    term["weights"] = args.vgg_weights
        if args.minutes:
            cfg = _fit_to_budget(cfg, args.minutes, args.resume)
        done = load_latest_checkpoint(Path(cfg.out_dir) / "checkpoints", args.trust_unverified) if args.resume else None
        if done is not None and int(done[0]["step"]) >= cfg.steps:
            print(f"stage {cfg.name}: already complete ({cfg.out_dir})")
            continue
        if len(stages) > 1:
            print(f"stage {cfg.name}: {cfg.stage}, {cfg.steps} steps -> {cfg.out_dir}")
        Trainer(cfg, resume=args.resume, restart=args.restart, trust_unverified=args.trust_unverified).fit(
            progress=not args.no_progress
        )
    return EXIT_OK


def _fit_to_budget(cfg, minutes: float, resume: bool):
    """``cfg`` with the step count that fills ``minutes`` (timed by a short probe run), so that
    the schedule anneals on time; on ``--resume``, the step count planned the first time."""
    import json

    from .train.budget import plan_steps, probe_seconds_per_step, with_steps

    saved = Path(cfg.out_dir) / "config.json"
    if resume and saved.is_file():
        planned = json.loads(saved.read_text())
        print(f"stage {cfg.name}: resuming the {planned['steps']} steps planned for its budget")
        return with_steps(cfg, planned["steps"])
    per_step = probe_seconds_per_step(cfg)
    cfg = plan_steps(cfg, minutes, per_step)
    print(
        f"stage {cfg.name}: {per_step * 1000:.0f} ms/step in a probe run; {cfg.steps} steps (warm-up "
        f"{cfg.optim.warmup_steps}) fill {minutes:g} min"
    )
    return cfg


def _cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "div2k":
        from .download import DIV2K, DIV2K_BASE_URL, fetch_archives

        splits = args.splits.split(",")
        unknown = [s for s in splits if s not in DIV2K]
        if unknown:
            raise CLIError(f"unknown DIV2K split(s) {', '.join(unknown)} (use {', '.join(DIV2K)})")
        archives = [DIV2K[s] for s in splits]
        folders = fetch_archives(
            Path(args.root) / "DIV2K", archives, args.base_url or DIV2K_BASE_URL, keep_archives=args.keep_archives
        )
        for f in folders:
            print(f"ready: {f}")
        return EXIT_OK
    from .prepare import extract_subimages

    n = extract_subimages(args.input, args.output, args.crop, args.step, args.min_tail)
    print(f"wrote {n} sub-images to {args.output}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .server.app import create_app
        from .server.settings import ServerSettings
    except ImportError as exc:
        raise CLIError(
            f"srgan serve needs the server extras: pip install 'srgan[serve]' ({exc.name} is missing)"
        ) from None
    settings = ServerSettings(
        max_upload_bytes=args.max_upload_bytes,
        max_input_pixels=args.max_input_pixels,
        max_output_pixels=args.max_output_pixels,
        request_timeout=args.timeout,
        workers=args.workers,
        queue_size=args.queue,
        default_model=args.model,
        device=args.device,
        models_dir=args.models_dir,
        tile=args.tile,
        header_timeout=args.header_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
    )
    from .server.limits import RateLimitedLog, header_timeout_protocol

    _raise_open_file_limit()
    logging.getLogger("asyncio").addFilter(RateLimitedLog(10.0))  # accept() errors at the fd limit: one line per 10 s
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="info",
        http=header_timeout_protocol(settings.header_timeout),
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.max_connections,
    )
    return EXIT_OK


def _raise_open_file_limit() -> None:
    """Lift the soft open-file limit to the hard one (connections are file descriptors)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard)
            )
    except (ImportError, ValueError, OSError):
        pass


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import check_onnx, export_onnx
    from .hub import load_generator

    g, _ = load_generator(args.model, allow_pickle=args.allow_pickle)
    path = export_onnx(g, args.output, opset=args.opset)
    print(f"wrote {path} (dynamic height/width)")
    try:
        err = check_onnx(g, path)
        print(f"onnxruntime vs PyTorch: max abs error {err:.2e}")
    except ImportError:
        print("onnxruntime not installed: output not checked")
    return EXIT_OK


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from .provenance import read_provenance

    failed = 0
    for f in args.files:
        try:
            rec = read_provenance(f)
        except (OSError, ValueError, RecursionError) as exc:
            _error(f"{f}: cannot read ({str(exc)[:200] or type(exc).__name__})")
            failed += 1
            continue
        if rec is None:
            print(f"{f}: no srgan provenance (not written by srgan, or written with --no-provenance)")
        else:
            print(f"{f}: synthesised by super-resolution")
            print(json.dumps(rec, indent=2))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run

    for p in plot_run(args.run, args.out):
        print(f"wrote {p}")
    return EXIT_OK


def _cmd_export_weights(args: argparse.Namespace) -> int:
    """Write the (EMA) generator of a training run's newest checkpoint as a shippable safetensors model."""
    import json

    from .hub import save_generator
    from .train.checkpoint import generator_from_run

    g, state, path = generator_from_run(args.run, ema=not args.no_ema, trust_unverified=args.trust_unverified)
    cfg = json.loads(state["config"])
    extra = {
        "name": Path(args.output).stem,
        "training": {"recipe": cfg, "steps": state["step"], "ema": bool(state.get("ema")) and not args.no_ema},
    }
    save_generator(g, args.output, extra)
    print(f"wrote {args.output} from {path} (step {state['step']})")
    return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    """A community weight file (BasicSR, Real-ESRGAN, ESRGAN, leftthomas/SRGAN) as an srgan model."""
    import torch

    from .convert import convert_file
    from .hub import load_generator

    card = {
        "source": args.source,
        "license": args.license,
        "description": args.description,
        "mmse_reference": args.mmse_reference,
    }
    layout, path = convert_file(
        args.input, args.output, allow_pickle=args.allow_pickle, card=card, overwrite=args.overwrite
    )
    g, cfg = load_generator(path)
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        finite = bool(torch.isfinite(g(x)).all())
    params = ", ".join(f"{k}={v}" for k, v in g.hparams.items())
    print(f"{args.input}: {layout} -> {cfg['arch']} ({params})")
    print(f"wrote {path}{'' if finite else ' (warning: the model gives NaN/Inf on a test input)'}")
    if not args.license:
        print("note: no --license given; check the weights' licence before sharing them", file=sys.stderr)
    return EXIT_OK


def _cmd_degrade(args: argparse.Namespace) -> int:
    """A benchmark set with degraded LR: OUT/HR (HR cropped to a multiple of the scale, PNG) and
    OUT/LR (the degraded LR, as the file a user would have: JPEG for the jpeg presets)."""
    import numpy as np

    from .data import list_images, load_rgb
    from .degradations import PRESETS, build_degradation

    try:
        degradation = build_degradation(args.preset)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.preset not in PRESETS:
        raise CLIError(f"unknown preset '{args.preset}' (presets: {', '.join(PRESETS)})")
    out = Path(args.output)
    hr_dir = _find_hr(Path(args.input))
    paths = list_images(hr_dir)
    if not paths:
        raise CLIError(f"no images found in {hr_dir}")
    if (out / "LR").exists() and any((out / "LR").iterdir()) and not args.overwrite:
        raise CLIError(f"{out / 'LR'} is not empty (use --overwrite to replace it)")
    (out / "HR").mkdir(parents=True, exist_ok=True)
    (out / "LR").mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        hr = load_rgb(path)
        hr = np.ascontiguousarray(
            hr[: hr.shape[0] - hr.shape[0] % args.scale, : hr.shape[1] - hr.shape[1] % args.scale]
        )
        data, ext = degradation.file(hr, args.scale, np.random.default_rng((args.seed, i)))
        (out / "LR" / f"{path.stem}{ext}").write_bytes(data)
        from PIL import Image

        Image.fromarray(hr).save(out / "HR" / f"{path.stem}.png")
    print(f"wrote {len(paths)} x{args.scale} pairs ({args.preset}, seed {args.seed}) to {out}")
    return EXIT_OK


def _find_hr(root: Path) -> Path:
    """HR images of a benchmark set: ``root/HR``, the HR of its largest ``x<N>`` folder, or ``root``."""
    from .evaluate import scale_folders

    if (root / "HR").is_dir():
        return root / "HR"
    folders = scale_folders(root)
    return folders[max(folders)] / "HR" if folders and (folders[max(folders)] / "HR").is_dir() else root


# --- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .hub import DEFAULT_MODEL
    from .image_io import DEFAULT_MAX_PIXELS
    from .inference import DEFAULT_TILE

    p = argparse.ArgumentParser(
        prog="srgan", description="Single-image super-resolution with SRResNet/SRGAN (Ledig et al. 2017)."
    )
    p.add_argument("--version", action="version", version=f"srgan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
        sp.add_argument(
            "--allow-pickle", action="store_true", help="allow .pth/.pt weights (loaded with weights_only=True)"
        )

    u = sub.add_parser("upscale", help="upscale image files, folders or globs")
    u.add_argument("inputs", nargs="+", metavar="INPUT")
    u.add_argument("-o", "--output", required=True, help="output folder (or a file name for a single input)")
    u.add_argument(
        "-m",
        "--model",
        default=None,
        help=f"packaged model name or weight file (default {DEFAULT_MODEL}); 'auto': its -jpeg (else -real) sibling "
        f"for JPEGs below quality {AUTO_JPEG_QUALITY}, itself otherwise",
    )
    u.add_argument("--scale", type=int, help="pick the packaged model of this scale (the scale comes from the model)")
    model_args(u)
    u.add_argument("--half", action="store_true", help="fp16 inference (GPU only); same as --precision fp16")
    u.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="inference precision (default fp32)")
    u.add_argument(
        "--tile",
        type=int,
        default=DEFAULT_TILE,
        help=f"LR tile side for bounded memory; 0 = whole image (default {DEFAULT_TILE}; the result is identical)",
    )
    u.add_argument(
        "--alpha",
        type=float,
        help="perception-distortion knob: interpolate weights from the PSNR model (0) to this model (1)",
    )
    u.add_argument(
        "--alpha-reference",
        metavar="MODEL",
        help="the alpha = 0 model (default: the model's mmse_reference, else srresnet-x<scale>)",
    )
    u.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_CPU_WORKERS,
        help=f"CPU: image bands processed in parallel, one thread each (default {DEFAULT_CPU_WORKERS}; "
        "the result is identical)",
    )
    u.add_argument(
        "--format", choices=["png", "jpg", "webp", "tif", "bmp"], help="output format (default: the input's)"
    )
    u.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    u.add_argument("--overwrite", action="store_true", help="replace existing output files")
    u.add_argument("--compare", action="store_true", help="also write <name>_compare.png: input | bicubic | model")
    u.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse inputs larger than this (default {DEFAULT_MAX_PIXELS:,})",
    )
    u.add_argument(
        "--max-output-pixels", type=int, default=0, help="refuse outputs larger than this (default: no limit)"
    )
    u.add_argument("--report", action="store_true", help="write <name>.report.json: sizes, time, LR-consistency PSNR")
    u.add_argument(
        "--enforce-consistency",
        action="store_true",
        help="project the output so that its bicubic downscale equals the input",
    )
    u.add_argument(
        "--hallucination-map",
        metavar="PATH",
        help="write heatmaps of invented detail (a folder, or a .png for one input)",
    )
    u.add_argument(
        "--no-provenance", action="store_true", help="do not mark outputs as synthesised (PNG text / XMP metadata)"
    )
    u.add_argument("-q", "--quiet", action="store_true")
    u.set_defaults(func=_cmd_upscale)

    from .degradations import PRESETS

    e = sub.add_parser("evaluate", help="PSNR/SSIM/MSE of bicubic and models on benchmark folders")
    e.add_argument(
        "datasets",
        nargs="+",
        metavar="DATASET",
        help="folder with HR/ and LR/ (or HR only, or a Set folder holding x2/x4)",
    )
    e.add_argument(
        "-m",
        "--model",
        action="append",
        default=[],
        help="packaged name or weight file; repeatable (bicubic is always included)",
    )
    e.add_argument("--scale", type=int, help="scale when no model is given (default: the models' scale, else 4)")
    e.add_argument("-o", "--out", help="folder for results.md/.csv/.json and figures")
    e.add_argument(
        "--formats",
        default="md,csv,json",
        help="report files to write into --out: any of md, csv, json (default md,csv,json)",
    )
    e.add_argument(
        "--niqe-params",
        metavar="NPZ",
        help="add NIQE (no-reference, lower is more natural) using this pristine-model file",
    )
    e.add_argument(
        "--save-figures",
        action="store_true",
        help="write original | LR | bicubic | model figures per image (needs --out)",
    )
    e.add_argument(
        "--degradation",
        action="append",
        choices=list(PRESETS),
        help="evaluate on LR made from the HR with this preset (as `srgan degrade` writes it); repeatable",
    )
    e.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="use only the HR files whose names match (repeatable), e.g. a held-out part of a training "
        "folder: ../shared/data/train/SunHays80_HR --only 'img_0[4-7]?_*'",
    )
    e.add_argument(
        "--artefacts",
        action="store_true",
        help="add colour shift, chroma error, checkerboard, grid level, block and sharpness (mean / worst image)",
    )
    e.add_argument(
        "--alpha-curve",
        type=lambda v: [float(a) for a in v.split(",")],
        metavar="A,B,...",
        help="also run each model at these --alpha values (e.g. 0,0.25,0.5,0.75,1): the perception-distortion curve",
    )
    model_args(e)
    e.set_defaults(func=_cmd_evaluate)

    m = sub.add_parser("models", help="list packaged models")
    m.add_argument("--markdown", action="store_true", help="print the model cards as Markdown tables")
    m.set_defaults(func=_cmd_models)

    d = sub.add_parser("demo", help="downscale a sample photo, upscale it and write a comparison with the original")
    d.add_argument("-o", "--output", default="srgan-demo")
    d.add_argument("-m", "--model", default=DEFAULT_MODEL)
    d.add_argument("--image", help="use this photo instead of the bundled sample")
    d.add_argument("--device", default="auto")
    d.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo in that folder")
    d.set_defaults(func=_cmd_demo)

    from .train.recipes import recipe_names

    t = sub.add_parser("train", help="train from a packaged recipe or a YAML config")
    t.add_argument("--recipe", help=f"packaged recipe ({', '.join(recipe_names())}) or a recipe file")
    t.add_argument("--config", help="a YAML config (single stage, or base + stages)")
    t.add_argument(
        "--data", action="append", metavar="FOLDER", help="folder of HR training images (repeatable); sets data.train"
    )
    t.add_argument("--val", metavar="FOLDER", help="validation folder (HR/ + LR/, or HR images); sets data.val")
    t.add_argument(
        "--out",
        help="output folder: of the run (one-stage config), or holding one folder per stage (default runs/<recipe>)",
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[STAGE:]KEY=VALUE",
        help="override a config key, e.g. --set optim.lr=1e-4 or --set srgan:loss.vgg_weight=0.01",
    )
    t.add_argument("--stage", help="train only this stage of the recipe")
    t.add_argument(
        "--minutes",
        type=float,
        help="fit the stage's steps to this wall-clock budget (a short probe run times a step; "
        "the schedule ends on time)",
    )
    t.add_argument(
        "--steps-factor",
        type=float,
        default=1.0,
        help="scale every iteration count (steps, milestones, warm-up) by this factor",
    )
    t.add_argument(
        "--vgg-weights", help="local VGG19 ImageNet weights (torchvision's vgg19-dcbb9e9d.pth) for offline use"
    )
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in out_dir")
    t.add_argument(
        "--restart",
        action="store_true",
        help="with --resume: when no checkpoint is readable, set them aside and start over",
    )
    t.add_argument(
        "--trust-unverified",
        action="store_true",
        help="load checkpoints of older srgan versions, which carry no SHA-256",
    )
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)

    from .server.settings import ServerSettings as _S

    sv = sub.add_parser("serve", help="HTTP API and web page (needs srgan[serve])")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--model", default=DEFAULT_MODEL, help="default model")
    sv.add_argument(
        "--models-dir", metavar="DIR", help="also serve the .safetensors models in DIR (e.g. from `srgan convert`)"
    )
    sv.add_argument("--device", default="auto")
    sv.add_argument("--workers", type=int, default=_S.workers, help="concurrent inferences")
    sv.add_argument("--queue", type=int, default=_S.queue_size, help="requests allowed to wait; more get 429")
    sv.add_argument("--timeout", type=float, default=_S.request_timeout, help="seconds per request")
    sv.add_argument("--max-upload-bytes", type=int, default=_S.max_upload_bytes)
    sv.add_argument("--max-input-pixels", type=int, default=_S.max_input_pixels)
    sv.add_argument("--max-output-pixels", type=int, default=_S.max_output_pixels)
    sv.add_argument(
        "--tile", type=int, default=_S.tile, help=f"LR tile side; cancellation is checked per tile (default {_S.tile})"
    )
    sv.add_argument(
        "--header-timeout",
        type=float,
        default=_S.header_timeout,
        help="seconds a new connection may take to send its headers",
    )
    sv.add_argument(
        "--keep-alive-timeout",
        type=int,
        default=_S.keep_alive_timeout,
        help="seconds an idle keep-alive connection is kept",
    )
    sv.add_argument(
        "--max-connections",
        type=int,
        default=_S.max_connections,
        help="open connections and requests at once; more get 503",
    )
    sv.set_defaults(func=_cmd_serve)

    ins = sub.add_parser("inspect", help="show the super-resolution provenance stored in an image")
    ins.add_argument("files", nargs="+")
    ins.set_defaults(func=_cmd_inspect)

    ex = sub.add_parser("export", help="export a model to ONNX (dynamic height/width)")
    ex.add_argument("-m", "--model", default=DEFAULT_MODEL)
    ex.add_argument("--format", choices=["onnx"], default="onnx")
    ex.add_argument("-o", "--output", required=True)
    ex.add_argument("--opset", type=int, default=18)
    ex.add_argument("--allow-pickle", action="store_true")
    ex.set_defaults(func=_cmd_export)

    cv = sub.add_parser(
        "convert",
        help="convert community weights (BasicSR, Real-ESRGAN, ESRGAN, leftthomas/SRGAN) to an srgan model",
    )
    cv.add_argument("input", help="weight file (.pth/.pt need --allow-pickle; .safetensors)")
    cv.add_argument("output", help="destination .safetensors (use it with -m FILE, or put it in a --models-dir)")
    cv.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read a .pth/.pt file (with torch.load(weights_only=True)); only for files you trust",
    )
    cv.add_argument("--source", help="where the weights come from (URL or citation), recorded on the card")
    cv.add_argument("--license", help="the weights' licence, recorded on the card")
    cv.add_argument("--description", help="one line for the card")
    cv.add_argument(
        "--mmse-reference", metavar="MODEL", help="PSNR-oriented partner for --alpha and hallucination maps"
    )
    cv.add_argument("--overwrite", action="store_true")
    cv.set_defaults(func=_cmd_convert)

    dg = sub.add_parser("degrade", help="write a benchmark set whose LR is degraded like real photos (fixed seed)")
    dg.add_argument("input", help="HR images: a folder, or a benchmark set (its HR/ or the HR of its x<N>/)")
    dg.add_argument("output", help="folder for HR/ and LR/ (use it with srgan evaluate)")
    dg.add_argument("--preset", required=True, choices=list(PRESETS), help="the degradation")
    dg.add_argument("--scale", type=int, default=4)
    dg.add_argument("--seed", type=int, default=0, help="the same seed rebuilds byte-identical files")
    dg.add_argument("--overwrite", action="store_true")
    dg.set_defaults(func=_cmd_degrade)

    da = sub.add_parser("data", help="download and prepare training data")
    dsub = da.add_subparsers(dest="data_command", required=True)
    dv = dsub.add_parser("div2k", help="download DIV2K HR (resumable, SHA-256 checked) and extract to ROOT/DIV2K")
    dv.add_argument("--root", required=True)
    dv.add_argument("--splits", default="train,valid", help="comma-separated: train, valid")
    dv.add_argument("--base-url", help="a mirror of the official DIV2K folder")
    dv.add_argument("--keep-archives", action="store_true")
    dp = dsub.add_parser("prepare", help="extract overlapping sub-images for fast loading (BasicSR style)")
    dp.add_argument("--input", required=True)
    dp.add_argument("--output", required=True)
    dp.add_argument("--crop", type=int, default=480)
    dp.add_argument("--step", type=int, default=240)
    dp.add_argument("--min-tail", type=int, default=48, help="add an edge-flush crop when this many pixels remain")
    da.set_defaults(func=_cmd_data)

    pl = sub.add_parser("plot", help="PSNR/SSIM/MSE and loss curves of a training run as PNG")
    pl.add_argument("run", help="training run folder (holds metrics.csv)")
    pl.add_argument("-o", "--out", help="output folder (default RUN/plots)")
    pl.set_defaults(func=_cmd_plot)

    x = sub.add_parser("export-weights", help="write a training run's generator as a safetensors model")
    x.add_argument("run", help="training run folder (out_dir; its newest checkpoint) or one checkpoint file")
    x.add_argument("output", help="destination .safetensors")
    x.add_argument("--no-ema", action="store_true", help="export the raw weights instead of the EMA")
    x.add_argument(
        "--trust-unverified", action="store_true", help="read checkpoints of older srgan versions (no SHA-256)"
    )
    x.set_defaults(func=_cmd_export_weights)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "save_figures", False) and not args.out:
        _error("--save-figures needs --out")
        return EXIT_USAGE
    from .hardware import tune_allocator
    from .hub import ModelFileError
    from .image_io import ImageError
    from .train.config import ConfigError

    tune_allocator()  # large tensors reused from the heap instead of page-faulted afresh per tile/step
    try:
        return args.func(args)
    except (
        CLIError,
        ModelFileError,
        ConfigError,
        ImageError,
        FileNotFoundError,
        FileExistsError,
        RuntimeError,
        ValueError,
        OSError,
        ArithmeticError,
    ) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _error(msg)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
