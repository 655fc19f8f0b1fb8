"""Mutation fuzzing of the image decoder: only ImageData or ImageError may come out.

    python fuzz/fuzz_decode.py --seconds 300 [--seed 0] [--out fuzz/findings]

Seeds are small valid files in many formats and modes, made here. Each round
mutates one (bit flips, byte overwrites, truncation, chunk duplication,
header size edits) and decodes it with ``read_image_bytes``. Any other
exception, or a result with non-finite or out-of-range pixels, is a finding:
the input is saved and the traceback printed. Prints a summary at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import re
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.image_io import ImageError, read_image_bytes


def seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    out = []
    for mode, fmts in {
        "RGB": ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF", "PPM"],
        "L": ["PNG", "JPEG", "TIFF"],
        "RGBA": ["PNG", "WEBP", "TIFF"],
        "LA": ["PNG"],
        "P": ["PNG", "GIF"],
        "1": ["PNG", "BMP"],
        "CMYK": ["JPEG", "TIFF"],
        "I;16": ["PNG", "TIFF"],
        "F": ["TIFF"],
    }.items():
        im = (
            Image.fromarray(rgb).convert(mode)
            if mode not in ("I;16", "F")
            else Image.fromarray(
                rgb[..., 0].astype(np.uint16) * 257 if mode == "I;16" else rgb[..., 0].astype(np.float32) / 255
            )
        )
        for fmt in fmts:
            buf = io.BytesIO()
            try:
                im.save(buf, fmt)
                out.append(buf.getvalue())
            except (OSError, ValueError, KeyError):
                pass
    return out


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        if op == 0 and b:  # bit flips
            for _ in range(rnd.randint(1, 8)):
                i = rnd.randrange(len(b))
                b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:  # overwrite a run with interesting bytes
            i = rnd.randrange(len(b))
            b[i : i + rnd.randint(1, 8)] = bytes(rnd.choice([0, 0xFF, 0x7F, 0x80, 1]) for _ in range(rnd.randint(1, 8)))
        elif op == 2:  # truncate
            b = b[: rnd.randrange(len(b) + 1)]
        elif op == 3 and len(b) > 8:  # duplicate a slice
            i, j = sorted(rnd.randrange(len(b)) for _ in range(2))
            b[j:j] = b[i:j][:4096]
        elif op == 4 and len(b) > 24:  # header size fields (PNG IHDR / BMP / GIF live early)
            i = rnd.randrange(8, min(40, len(b) - 4))
            b[i : i + 4] = rnd.randrange(2**32).to_bytes(4, "big")
        elif op == 5:  # append junk
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    return bytes(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="fuzz/findings")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    corpus = seeds()
    stats: Counter[str] = Counter()
    findings = 0
    end = time.time() + args.seconds
    warnings.simplefilter("ignore")
    while time.time() < end:
        data = mutate(rnd.choice(corpus), rnd)
        stats["inputs"] += 1
        try:
            img = read_image_bytes(data, "fuzz", max_pixels=4_000_000)
            if not np.isfinite(img.color).all() or img.color.min() < 0 or img.color.max() > 1:
                raise AssertionError("decoded pixels outside [0, 1] or non-finite")
            stats["decoded"] += 1
        except ImageError as exc:
            stats["clean error: " + re.sub(r"[\d.]+", "N", str(exc).split(": ", 1)[-1].split(" (")[0])[:60]] += 1
        except Exception:
            findings += 1
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            name = out / f"crash_{hashlib.sha1(data).hexdigest()[:12]}.bin"
            name.write_bytes(data)
            print(f"FINDING saved to {name}:\n{traceback.format_exc()}", file=sys.stderr)
    print(
        f"ran {args.seconds:.0f} s, {stats['inputs']} inputs from {len(corpus)} seeds, {stats['decoded']} decoded, "
        f"{findings} findings"
    )
    for k, v in stats.most_common():
        if k.startswith("clean error"):
            print(f"  {v:7d}  {k}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
