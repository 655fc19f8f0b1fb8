"""Degradations (srgan.degradations): kernels, each stage, determinism, JPEG quality, presets."""

import io

import numpy as np
import pytest
import torch
from conftest import natural_image
from PIL import Image

from srgan.cli import main
from srgan.degradations import PRESETS, build_degradation
from srgan.degradations.kernels import KINDS, bessel_j1, gaussian, generalized_gaussian, plateau, random_kernel, sinc
from srgan.degradations.realistic import add_gaussian_noise, add_poisson_noise, blur, jpeg, resize
from srgan.train import ConfigError, load_config


def test_kernels_are_normalised_and_shaped():
    rng = np.random.default_rng(0)
    for k in (gaussian(21, 2.0), gaussian(9, 1.0, 3.0, 0.7), generalized_gaussian(15, 2, 1, 0.3, 0.5),
              plateau(11, 1.5, 2.5, -1.0, 2.0), sinc(21, np.pi / 3)):  # fmt: skip
        assert abs(k.sum() - 1) < 1e-12 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    for _ in range(50):
        k = random_kernel(rng, KINDS, (1,) * 6, (0.2, 3), (0.5, 4), (1, 2), sinc_prob=0.3)
        assert abs(k.sum() - 1) < 1e-9 and 7 <= k.shape[0] <= 21
    assert np.allclose(gaussian(21, 2.0), gaussian(21, 2.0).T), "isotropic is symmetric"
    aniso = gaussian(21, 1.0, 4.0, 0.0)
    assert aniso[:, 10].sum() > aniso[10, :].sum(), "sigma_y = 4 spreads along y (down a column)"


def test_bessel_j1_and_sinc_reference_values():
    # J1 values from Abramowitz & Stegun, Table 9.1
    assert np.allclose(
        bessel_j1(np.array([1.0, 2.0, 5.0, 10.0])), [0.4400505857, 0.5767248078, -0.3275791376, 0.0434727462]
    )
    k = sinc(21, np.pi)
    assert k.min() < 0, "a sinc has negative side lobes (ringing)"


def test_each_stage_keeps_shape_and_range():
    rng = np.random.default_rng(1)
    img = torch.from_numpy(natural_image(32, 40).astype(np.float32) / 255).permute(2, 0, 1)
    assert blur(img, gaussian(7, 1.0)).shape == img.shape
    for mode in ("area", "bilinear", "bicubic"):
        assert resize(img, (8, 10), mode).shape == (3, 8, 10)
    noisy = add_gaussian_noise(img, 20.0, gray=True, rng=rng)
    assert torch.allclose((noisy - img)[0], (noisy - img)[2], atol=1e-6), "gray noise is the same in every channel"
    assert 0.05 < float((add_gaussian_noise(img, 20.0, False, rng) - img).std()) < 0.1  # 20 / 255
    assert float((add_poisson_noise(img, 1.0, False, rng) - img).abs().mean()) > 0.003
    out = jpeg(img, 50)
    assert out.dtype == torch.float32 and out.shape == img.shape and 0 <= out.min() and out.max() <= 1
    hr = natural_image(96, 96)
    for name in PRESETS:
        lr = build_degradation(name).lr(hr, 4, np.random.default_rng(0))
        assert lr.shape == (24, 24, 3) and lr.dtype == np.uint8, name


def test_realistic_draws_are_a_function_of_seed_and_index(tmp_path):
    from srgan.data import ImageCache, RandomCropDataset

    for i in range(3):
        Image.fromarray(natural_image(64, 72, seed=i)).save(tmp_path / f"{i}.png")
    cache = ImageCache(tmp_path, min_size=32)
    a = RandomCropDataset(cache, 4, 32, seed=5, degradation=build_degradation("realistic"))
    b = RandomCropDataset(cache, 4, 32, seed=5, degradation=build_degradation("realistic"))
    assert all(np.array_equal(a.sample(k)[0], b.sample(k)[0]) for k in (0, 7, 123))
    assert not np.array_equal(a.sample(7)[0], a.sample(8)[0])
    clean = RandomCropDataset(cache, 4, 32, seed=5)
    assert np.array_equal(clean.sample(7)[1], a.sample(7)[1]), "the same HR crop, only the LR differs"


def test_realistic_compresses_twice_the_second_time_last(monkeypatch):
    """Real-ESRGAN's model has two JPEG steps: the first order's, and the second order's, which is
    the final one (before or after the final resize + sinc), at jpeg_range2's quality."""
    from srgan.degradations import realistic

    calls = []
    real_jpeg = realistic.jpeg

    def spy(img, quality):
        calls.append((tuple(img.shape[-2:]), quality))
        return real_jpeg(img, quality)

    monkeypatch.setattr(realistic, "jpeg", spy)
    deg = realistic.RealisticDegradation(jpeg_range=(40, 40), jpeg_range2=(90, 90))
    for k in range(12):
        calls.clear()
        deg(natural_image(64, 64, seed=k), 4, np.random.default_rng(k))
        assert [q for _, q in calls] == [40, 90], calls
    # over a few seeds the final JPEG comes both before and after the resize to 16 x 16
    orders = set()
    for k in range(12):
        calls.clear()
        deg(natural_image(64, 64, seed=k), 4, np.random.default_rng(k))
        orders.add(calls[-1][0] == (16, 16))
    assert orders == {True, False}


def _jpeg_file(quality: int) -> bytes:
    return build_degradation({"type": "jpeg", "quality": quality}).file(
        natural_image(96, 96), 4, np.random.default_rng(0)
    )[0]


@pytest.mark.parametrize("quality", [30, 70, 90])
def test_jpeg_quality_is_applied(quality):
    """The file's luma quantisation table is IJG's scaled for ``quality`` (DC entry 16 x the scale)."""
    with Image.open(io.BytesIO(_jpeg_file(quality))) as im:
        assert im.format == "JPEG"
        dc = im.quantization[0][0]
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    assert dc == max(1, int((16 * scale + 50) // 100))
    assert len(_jpeg_file(30)) < len(_jpeg_file(70)) < len(_jpeg_file(90))


@pytest.mark.parametrize("channels", [3, 1])
def test_jpeg_round_trip_is_pillows_file_round_trip(channels):
    """jpeg() rounds to 8 bits and decodes with the JPEG decoder alone: the same values as
    saving the rounded image with Pillow and opening the file, including out-of-range input."""
    g = torch.Generator().manual_seed(channels)
    for h, w, q in [(96, 96, 70), (23, 37, 30), (9, 64, 95)]:
        img = torch.rand(channels, h, w, generator=g) * 1.4 - 0.2
        rounded = (np.clip(img.numpy(), 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8)  # nearest
        buf = io.BytesIO()
        Image.fromarray(rounded.transpose(1, 2, 0) if channels == 3 else rounded[0]).save(buf, "JPEG", quality=q)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            ref = np.asarray(im).reshape(h, w, channels).transpose(2, 0, 1)
        out = jpeg(img, q)
        assert out.dtype == torch.float32 and out.shape == (channels, h, w)
        assert np.array_equal((out.numpy() * 255).round().astype(np.uint8), ref)


def test_degrade_presets_rebuild_byte_identical_files(tmp_path, capsys):
    src = tmp_path / "hr"
    src.mkdir()
    for i in range(2):
        Image.fromarray(natural_image(50, 42, seed=i)).save(src / f"img_{i}.png")
    for preset in PRESETS:
        for out, seed in (("a", 0), ("b", 0), ("c", 1)):
            assert (
                main(["degrade", str(src), str(tmp_path / preset / out), "--preset", preset, "--seed", str(seed)]) == 0
            )
        a, b, c = (sorted((tmp_path / preset / o / "LR").iterdir()) for o in "abc")
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b], preset
        if preset in ("noise10", "realistic"):
            assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c], f"{preset}: the seed matters"
        assert a[0].suffix == (".jpg" if preset.startswith("jpeg") else ".png")
        assert Image.open(tmp_path / preset / "a" / "HR" / "img_0.png").size == (40, 48), "HR cropped to x4"
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "jpeg70" / "a"), "--scale", "4"]) == 0, "JPEG LR folders evaluate"
    assert "| bicubic |" in capsys.readouterr().out


def test_evaluate_degradation_matches_the_degraded_folder(tmp_path, capsys):
    src = tmp_path / "hr"
    src.mkdir()
    Image.fromarray(natural_image(48, 48)).save(src / "img_0.png")
    assert main(["degrade", str(src), str(tmp_path / "d"), "--preset", "noise10"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "d")]) == 0
    on_disk = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| bicubic"))
    assert main(["evaluate", str(src), "--degradation", "noise10"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| bicubic"))
    assert " noise10 x4 (1 images" in out and row == on_disk


def test_degradation_config_names_bad_types_and_parameters():
    assert load_config(raw={"data": {"degradation": "realistic"}}).data.degradation == {"type": "realistic"}
    cfg = load_config(
        raw={"data": {"degradation": {"type": "mix", "options": ["realistic", "jpeg70"], "probs": [1, 1]}}}
    )
    assert cfg.data.degrader() is not None
    with pytest.raises(ConfigError, match="unknown degradation 'realistc' \\(did you mean 'realistic'"):
        load_config(raw={"data": {"degradation": "realistc"}})
    with pytest.raises(
        ConfigError, match="degradation 'realistic' has no parameter 'jpeg_rang' \\(did you mean 'jpeg_range'"
    ):
        load_config(raw={"data": {"degradation": {"type": "realistic", "jpeg_rang": [30, 95]}}})
    with pytest.raises(ConfigError, match="jpeg_range must lie in"):
        load_config(raw={"data": {"degradation": {"type": "realistic", "jpeg_range": [0, 95]}}})


def test_restoring_models_say_what_their_consistency_score_means(tmp_path, capsys):
    """A -real model removes JPEG blocks and noise: its report says the score counts that as
    inconsistency, and --enforce-consistency warns that it puts the artefacts back."""
    import json

    from srgan.hub import save_generator
    from srgan.models import Generator

    real = {"training": {"recipe": {"data": {"degradation": {"type": "realistic"}}}}}
    for name, extra in (("plain", {}), ("restoring", real)):
        save_generator(Generator(4, 1), tmp_path / f"{name}.safetensors", {"name": name, **extra})
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(12, 12)).save(src)
    for name in ("plain", "restoring"):
        args = [
            "upscale",
            str(src),
            "-o",
            str(tmp_path / name),
            "-m",
            str(tmp_path / f"{name}.safetensors"),
            "--device",
            "cpu",
        ]
        assert main([*args, "--report", "--enforce-consistency"]) == 0
        report = json.loads((tmp_path / name / "in.report.json").read_text())
        err = capsys.readouterr().err
        if name == "restoring":
            assert "counts what it removed as inconsistency" in report["lr_consistency_note"]
            assert "re-imposes the input's JPEG blocks and noise" in err
        else:
            assert "lr_consistency_note" not in report and "re-imposes" not in err


@pytest.mark.parametrize("quality", [25, 60, 89, 97])
def test_jpeg_quality_is_read_back_from_the_tables(quality):
    from srgan.image_io import read_image_bytes

    buf = io.BytesIO()
    Image.fromarray(natural_image(32, 32)).save(buf, "JPEG", quality=quality)
    assert read_image_bytes(buf.getvalue()).jpeg_quality == quality
    png = io.BytesIO()
    Image.fromarray(natural_image(8, 8)).save(png, "PNG")
    assert read_image_bytes(png.getvalue()).jpeg_quality is None


def test_fft_blur_is_the_direct_depthwise_convolution():
    import torch.nn.functional as F

    from srgan.degradations.realistic import _fft_size

    assert [_fft_size(n) for n in (116, 97, 29, 7, 128)] == [120, 100, 30, 8, 128]
    rng = np.random.default_rng(3)
    for size, (h, w) in ((21, (96, 80)), (7, (24, 24)), (13, (5, 7)), (21, (30, 9)), (9, (17, 33))):
        img = torch.rand(3, h, w, generator=torch.Generator().manual_seed(size + h))
        k = rng.random((size, size))
        k /= k.sum()
        pad = size // 2
        x = F.pad(img[None], (pad,) * 4, mode="reflect" if min(h, w) > pad else "replicate")
        direct = F.conv2d(x, torch.as_tensor(k, dtype=torch.float32).expand(3, 1, size, size), groups=3)[0]
        out = blur(img, k)
        assert out.shape == img.shape and out.is_contiguous()
        assert float((out - direct).abs().max()) < 1e-5, (size, h, w)
    asym = np.zeros((5, 5))
    asym[0, 4] = 1.0  # correlation: output(y, x) = input(y - 2, x + 2), as conv2d
    img = torch.zeros(1, 9, 9)
    img[0, 2, 6] = 1.0
    assert float(blur(img, asym)[0, 4, 4]) == pytest.approx(1.0, abs=1e-6)
