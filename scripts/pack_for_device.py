"""Pack training and validation images into a folder small enough to travel to a lent GPU machine.

    python scripts/pack_for_device.py ../shared/data/train/SunHays80_HR ../shared/data/train/BSDS500_train \
        ../shared/data/train/BSDS500_test --val ../shared/data/benchmarks/Set5/x4 --out .device-pack --budget-mb 44

Folders are taken in the order given, images in sorted order, until ``--budget-mb`` is spent;
images smaller than ``--min-size`` (the HR crop) are skipped, since the trainer would skip them.
JPEG files are copied byte for byte; other formats are re-encoded as JPEG at ``--quality`` with
4:4:4 chroma (the lossless formats are several times larger). The printed table is the record of
what a model trained on the pack saw.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from srgan.data import list_images, load_rgb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train", nargs="+", help="folders of HR training images, most wanted first")
    ap.add_argument("--val", help="a benchmark folder with HR/ and LR/ to copy as OUT/val")
    ap.add_argument("--out", default=".device-pack")
    ap.add_argument("--budget-mb", type=float, default=44.0, help="size limit of the training images (MB)")
    ap.add_argument("--min-size", type=int, default=192, help="skip images with a side shorter than this")
    ap.add_argument("--quality", type=int, default=95)
    args = ap.parse_args()

    out = Path(args.out)
    if out.exists():
        if not (out / "train").is_dir() or any(p.name not in ("train", "val", "wheels") for p in out.iterdir()):
            raise SystemExit(f"{out} exists and is not an earlier pack: choose another --out")
        shutil.rmtree(out / "train")
        shutil.rmtree(out / "val", ignore_errors=True)
    budget, used = args.budget_mb * 1e6, 0
    print("| folder | images packed | of | MP | MB |\n|---|---:|---:|---:|---:|")
    full = False
    for folder in map(Path, args.train):
        dest = out / "train" / folder.name
        dest.mkdir(parents=True)
        files, n, mp, size = list_images(folder), 0, 0.0, 0
        for path in files:
            img = load_rgb(path)
            if min(img.shape[:2]) < args.min_size:
                continue
            target = dest / (path.stem + ".jpg")
            if path.suffix.lower() in (".jpg", ".jpeg"):
                shutil.copyfile(path, target)
            else:
                Image.fromarray(img).save(target, "JPEG", quality=args.quality, subsampling=0)
            nbytes = target.stat().st_size
            if used + nbytes > budget:
                target.unlink()
                full = True
                break
            used, size, n, mp = used + nbytes, size + nbytes, n + 1, mp + img.shape[0] * img.shape[1] / 1e6
        print(f"| {folder.name} | {n} | {len(files)} | {mp:.1f} | {size / 1e6:.1f} |")
        if full:
            break
    if args.val:
        shutil.copytree(args.val, out / "val")
    print(f"\n{used / 1e6:.1f} MB of training images in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
