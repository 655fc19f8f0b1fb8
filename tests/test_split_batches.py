"""Batches made with helper processes (srgan.train.split_batches) are the DataLoader's, bit for bit."""

import os
import time

import pytest
import torch
from conftest import natural_image
from torch.utils.data import DataLoader

from srgan.data import ImageCache, RandomCropDataset, StepBatchSampler
from srgan.degradations import build_degradation
from srgan.train import ConfigError, load_config
from srgan.train.split_batches import SplitBatches, helpers_for


def _dataset(tmp_path, degradation="realistic") -> RandomCropDataset:
    from PIL import Image

    for i in range(4):
        Image.fromarray(natural_image(64 + 8 * i, 72, seed=i)).save(tmp_path / f"{i}.png")
    return RandomCropDataset(
        ImageCache(str(tmp_path), min_size=32), 4, 32, seed=5, degradation=build_degradation(degradation)
    )


@pytest.mark.parametrize("helpers,batch", [(1, 5), (2, 4), (3, 2)])
def test_split_batches_equal_the_data_loaders(tmp_path, helpers, batch):
    ds = _dataset(tmp_path)
    ref = list(DataLoader(ds, batch_sampler=StepBatchSampler(batch, 3, 7)))
    split = SplitBatches(ds, StepBatchSampler(batch, 3, 7), helpers)
    got = list(split)
    assert len(got) == len(ref) == 4
    for (lr_a, hr_a), (lr_b, hr_b) in zip(ref, got):
        assert lr_b.shape == (batch, 3, 8, 8) and hr_b.shape == (batch, 3, 32, 32)
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    assert torch.get_num_threads() >= 1


def test_split_batches_restore_threads_and_stop_their_helpers(tmp_path):
    ds = _dataset(tmp_path, "bicubic")
    threads = torch.get_num_threads()
    split = SplitBatches(ds, StepBatchSampler(4, 0, 100), 1)
    it = iter(split)
    next(it)
    assert torch.get_num_threads() == threads
    pids = list(split.pool._processes)
    assert pids and all(os.path.exists(f"/proc/{p}") for p in pids if os.path.exists("/proc"))
    it.close()  # the trainer stopping early: the helpers exit
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_helper_count_and_its_config():
    assert helpers_for("auto", 2) == 1 and helpers_for("auto", 1) == 0 and helpers_for(3, 2) == 3
    assert load_config(raw={"data": {"train": ["x"]}}).data.batch_helpers == "auto"
    with pytest.raises(ConfigError, match="data.batch_helpers: must be auto or a number >= 0, got -1"):
        load_config(raw={"data": {"train": ["x"], "batch_helpers": -1}})
    with pytest.raises(ValueError, match="helpers must be >= 1"):
        SplitBatches(None, [], 0)
