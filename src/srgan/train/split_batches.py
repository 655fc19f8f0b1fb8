"""Batches made by the training process and helper processes together, while the step waits.

With no loader workers (``data.num_workers: 0``, the CPU recipes' setting) each batch is made
between two steps. Making it takes one thread (cropping, MATLAB bicubic and the degradations are
many small operations that hold the GIL), so the step's other cores sit idle meanwhile: with
Real-ESRGAN's degradation, a fifth of a bf16 step on 2 cores. Here the batch's samples are split
into contiguous parts, one for this process and one for each helper process (forked, so they
share the image cache), made at once, then stacked in order. A sample is a pure function of its
index (:meth:`srgan.data.RandomCropDataset.sample`), so the batches are the ones a ``DataLoader``
would give, bit for bit. Unlike loader workers, the helpers run only while the step waits for
the batch, so they take no CPU time from the step itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

import numpy as np
import torch
from threadpoolctl import ThreadpoolController, threadpool_limits
from torch.utils.data import DataLoader

from ..data import RandomCropDataset, to_tensor

__all__ = ["SplitBatches", "batches_in_process", "helpers_for", "one_thread"]

_dataset: RandomCropDataset | None = None  # a helper's copy (inherited through fork)
_blas: ThreadpoolController | None = None  # found once: scanning the loaded libraries costs a few ms


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread and one BLAS thread while samples are made, the step's restored after.
    Cropping, MATLAB bicubic and the degradations work on small arrays: with the step's thread
    pools (PyTorch's and NumPy's BLAS, which spin-wait) they lose more to synchronisation and to
    each other than they gain."""
    global _blas
    _blas = _blas or ThreadpoolController()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _blas.limit(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def batches_in_process(loader: DataLoader) -> Iterator:
    """``loader``'s batches (no loader workers: made in this process between steps), each made
    under :func:`one_thread`."""
    it = iter(loader)
    while True:
        with one_thread():
            batch = next(it, None)
        if batch is None:
            return
        yield batch


def _start_helper(dataset: RandomCropDataset) -> None:
    global _dataset
    _dataset = dataset
    try:  # Linux: die with the training process, even when it is SIGKILLed (PR_SET_PDEATHSIG = 1)
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    torch.set_num_threads(1)
    threadpool_limits(limits=1)


def _make(indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    assert _dataset is not None
    return [_dataset.sample(k) for k in indices]


def helpers_for(setting: int | str, threads: int) -> int:
    """The number of helper processes for ``data.batch_helpers``: ``auto`` is one per intra-op
    thread beyond the first (the cores the step uses), 0 turns them off."""
    if "fork" not in multiprocessing.get_all_start_methods():  # Windows: the image cache cannot be shared
        return 0
    if setting == "auto":
        return max(0, threads - 1)
    return int(setting)


class SplitBatches:
    """Iterates ``(lr, hr)`` batches of ``dataset`` for the index lists of ``batch_sampler``, each
    made by this process (under :func:`one_thread`) and ``helpers`` forked processes."""

    def __init__(self, dataset: RandomCropDataset, batch_sampler: Iterable[list[int]], helpers: int) -> None:
        if helpers < 1:
            raise ValueError(f"helpers must be >= 1, got {helpers}")
        self.dataset, self.batch_sampler, self.helpers = dataset, batch_sampler, helpers
        self.pool = ProcessPoolExecutor(
            helpers, mp_context=multiprocessing.get_context("fork"), initializer=_start_helper, initargs=(dataset,)
        )

    def _parts(self, indices: list[int]) -> list[list[int]]:
        bounds = np.linspace(0, len(indices), self.helpers + 2).round().astype(int)
        return [indices[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        try:
            for indices in self.batch_sampler:
                mine, *theirs = self._parts(list(indices))
                futures = [self.pool.submit(_make, part) for part in theirs if part]
                with one_thread():
                    samples = [self.dataset.sample(k) for k in mine]
                try:
                    for f in futures:
                        samples += f.result()
                except BrokenProcessPool:
                    raise RuntimeError(
                        "a batch helper process died (out of memory?); set data.batch_helpers: 0 to make batches "
                        "in the training process alone"
                    ) from None
                yield (
                    torch.stack([to_tensor(lr) for lr, _ in samples]),
                    torch.stack([to_tensor(hr) for _, hr in samples]),
                )
        finally:
            self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
