"""Mutated TIFF inputs for the regression test of fuzz findings (shares the fuzzer's seeds and mutator)."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from fuzz_decode import mutate, seeds  # noqa: E402


def mutate_tiff_samples(rnd: random.Random, n: int) -> list[bytes]:
    tiffs = [s for s in seeds() if s[:4] in (b"II*\x00", b"MM\x00*")]
    return [mutate(rnd.choice(tiffs), rnd) for _ in range(n)]
