"""Where each model draws its strongest local lattice pattern, per image, with the crops to look at.

    python benchmarks/lattice_tiles.py --bench ../shared/data/benchmarks --model srresnet-x4 --model srgan-x4 \\
        [--set Set14] [--tile 48] [--figure OUT.png]

For every image and model, the 48 px tile of the x4 output whose period-2/4 pattern (the grid
level of benchmarks/artifacts.py, RMS in 8-bit luma levels) most exceeds HR's in the same tile
(artifacts.lattice_levels, worst_lattice_tile). The whole-image grid level dilutes a mesh confined to one
region; this finds the region. A high level with a high HR level is content on the lattice (an
edge), not an artefact. --figure writes HR | each model at the tile with the largest excess over
all models, one row per image, 4x nearest-neighbour zoom, to look at rather than to trust.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artifacts import lattice_levels, worst_lattice_tile  # noqa: E402

from srgan.api import from_pretrained  # noqa: E402
from srgan.data import PairedImages  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--set", default="Set14")
    ap.add_argument("--tile", type=int, default=48)
    ap.add_argument("--figure", help="PNG with the crops")
    args = ap.parse_args()
    models = {n: from_pretrained(n, device="cpu") for n in args.model}
    print(f"{args.set} x4, {args.tile} px tiles: the tile where the model's grid level most exceeds HR's; "
          "levels are RMS 8-bit luma levels (below about 1 cannot be seen)\n")
    print("| image | " + " | ".join(f"{n} tile (y, x) | {n} level | HR level there" for n in models) + " |")
    print("|---|" + "---|---:|---:|" * len(models))
    rows = []
    for name, lr, hr in PairedImages(Path(args.bench) / args.set / "x4", 4):
        outs = {n: m.upscale(lr) for n, m in models.items()}
        hr_levels = lattice_levels(hr, args.tile)
        found = {n: worst_lattice_tile(lattice_levels(sr, args.tile), hr_levels) for n, sr in outs.items()}
        print(f"| {name} | " + " | ".join(f"({y}, {x}) | {s:.2f} | {h:.2f}" for y, x, s, h in found.values()) + " |")
        if args.figure:
            y, x, _, _ = max(found.values(), key=lambda t: t[2] - t[3])
            crops = [hr] + list(outs.values())
            z = [Image.fromarray(np.ascontiguousarray(c[y:y + args.tile, x:x + args.tile])).resize((args.tile * 4,) * 2, Image.NEAREST)
                 for c in crops]
            row = Image.new("RGB", (len(z) * (args.tile * 4 + 4), args.tile * 4), "white")
            for i, c in enumerate(z):
                row.paste(c, (i * (args.tile * 4 + 4), 0))
            rows.append(row)
    if args.figure and rows:
        sheet = Image.new("RGB", (rows[0].width, len(rows) * (rows[0].height + 4)), "white")
        for i, r in enumerate(rows):
            sheet.paste(r, (0, i * (r.height + 4)))
        sheet.save(args.figure)
        print(f"\nwrote {args.figure} (columns: HR, {', '.join(models)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
