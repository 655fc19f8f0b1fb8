"""Crop gallery for judging texture and halos by eye: HR | bicubic | each model, at 2x zoom.

    python benchmarks/gan_gallery.py --out docs/figures/gan \
        --crop ../shared/data/benchmarks/Set14/x4/HR/img_001.png:40,40,96 \
        --crop ../shared/data/train/SunHays80_HR/img_045_SRF_8_HR.png:300,200,96 \
        -m srresnet-x4 -m srgan-x4 -m runs/new.safetensors

Each ``--crop FILE:X,Y,SIZE`` names an HR image and a SIZE x SIZE window at (X, Y) in HR pixels.
The LR is the MATLAB-bicubic x1/4 of the whole HR image (cropped to a multiple of 4), each model
upscales the whole LR, and the window is cut from every output, so borders play no part. Writes
one JPEG per crop (columns labelled) and prints the markdown that shows them. ``--jpeg Q`` saves
the LR as a JPEG of quality Q (Pillow, 4:2:0) before the methods see it: a user's photo.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from srgan.api import from_pretrained
from srgan.data import load_rgb
from srgan.imresize import imresize


def parse_crop(spec: str) -> tuple[Path, int, int, int]:
    path, _, box = spec.rpartition(":")
    x, y, size = (int(v) for v in box.split(","))
    return Path(path), x, y, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crop", action="append", required=True, help="FILE:X,Y,SIZE (HR pixels)")
    ap.add_argument("-m", "--model", action="append", default=[], help="packaged name or weight file")
    ap.add_argument("--label", action="append", default=[], help="column label per model (default: its name)")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--jpeg", type=int, metavar="Q", help="give the methods the LR as a JPEG of this quality")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    models = [from_pretrained(m) for m in args.model]
    labels = args.label + [Path(m).stem for m in args.model[len(args.label) :]]
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.crop:
        path, x, y, size = parse_crop(spec)
        hr = load_rgb(path)
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(hr, 0.25)
        if args.jpeg:
            buf = io.BytesIO()
            Image.fromarray(lr).save(buf, "JPEG", quality=args.jpeg)
            lr = np.asarray(Image.open(buf).convert("RGB"))
        columns = [("HR", hr), ("bicubic", imresize(lr, 4))]
        columns += [(label, m.upscale(lr)) for label, m in zip(labels, models)]
        tiles = []
        for label, img in columns:
            tile = Image.fromarray(np.ascontiguousarray(img[y : y + size, x : x + size]))
            tile = tile.resize((size * args.zoom, size * args.zoom), Image.NEAREST)
            ImageDraw.Draw(tile).text((4, 2), label, fill=(255, 255, 0))
            tiles.append(np.asarray(tile))
        gap = np.full((size * args.zoom, 4, 3), 255, np.uint8)
        row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
        name = f"{path.parent.parent.parent.name.lower()}_{path.stem}" if path.parent.name == "HR" else path.stem
        out = args.out / f"{name}_{x}_{y}{f'_jpeg{args.jpeg}' if args.jpeg else ''}.jpg"
        Image.fromarray(row).save(out, quality=90)
        print(f"![{path.name} at ({x}, {y}), {size} px, {args.zoom}x: {' | '.join(c[0] for c in columns)}]({out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
