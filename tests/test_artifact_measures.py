"""The artefact measures that `srgan evaluate --artefacts` reports (srgan.artifacts)."""

import numpy as np

from srgan.artifacts import (
    block,
    chroma_error,
    colour_shift,
    grid_level,
    lattice_levels,
    shift_consistency,
    shift_profile,
    worst_lattice_tile,
)
from srgan.imresize import imresize


def test_grid_level_is_the_rms_of_a_lattice_pattern_in_levels():
    rng = np.random.default_rng(0)
    smooth = np.full((64, 96, 3), 120.0)
    pattern = np.zeros((4, 4))
    pattern[0::2, 0::2], pattern[1::2, 1::2] = 3.0, -3.0  # a checkerboard on half the pixels: RMS 3 / sqrt(2)
    img = np.clip(smooth + np.tile(pattern, (16, 24))[..., None], 0, 255).astype(np.uint8)
    assert abs(grid_level(img) - 3 / np.sqrt(2) * 219 / 255) < 0.05  # luma spans 219 of 255 levels
    noise = np.clip(smooth + rng.normal(0, 3, smooth.shape), 0, 255).astype(np.uint8)
    assert grid_level(noise) < 0.3, "random noise spreads over all frequencies"


def test_block_sees_a_mesh_of_block_edges_and_colour_shift_a_mean_change():
    rng = np.random.default_rng(1)
    hr = np.clip(128 + rng.normal(0, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
    steps = np.kron(rng.normal(0, 25, (16, 16)), np.ones((4, 4)))[..., None]  # constant 4x4 blocks
    meshed = np.clip(hr + steps, 0, 255).astype(np.uint8)
    assert block(hr, hr) < 1e-3
    assert block(meshed, hr) > 5
    assert abs(colour_shift(np.clip(hr.astype(int) + 5, 0, 255).astype(np.uint8), hr) - 5) < 0.2


def test_chroma_error_sees_speckled_false_colour_that_keeps_the_mean():
    grey = np.full((32, 32), 100, np.uint8)
    specks = np.repeat(grey[..., None], 3, axis=2).astype(int)
    specks[0::2, :, 2] += 10  # blue on every other row, minus blue on the rest: the mean colour stays
    specks[1::2, :, 2] -= 10
    specks = specks.astype(np.uint8)
    assert colour_shift(specks, grey) < 1e-9
    assert abs(chroma_error(specks, grey) - (0.5 + 0.081312) * 10 / 2) < 1e-3, "|dCb| = 5, |dCr| = 0.81 levels"
    assert chroma_error(np.repeat(grey[..., None] + 7, 3, axis=2), grey) < 1e-4, "a grey change is not colour"


def test_shift_consistency_is_high_for_bicubic_and_low_for_a_lattice_tied_upscaler():
    rng = np.random.default_rng(2)
    hr = np.clip(imresize(rng.uniform(0, 255, (12, 16, 3)), output_shape=(96, 128)), 0, 255).astype(
        np.uint8
    )  # smooth detail
    bicubic = lambda lr: np.clip(imresize(lr, 4.0), 0, 255)  # noqa: E731  (uint8 in and out, like SRModel.upscale)
    nearest = lambda lr: np.repeat(np.repeat(lr, 4, 0), 4, 1)  # noqa: E731  (4x4 blocks: tied to the lattice)
    ladder = np.zeros((4, 4, 1))
    ladder[:, 0] = 16.0  # RMS difference 16 * 219 / 255 / sqrt(2) levels: about 28 dB
    laddered = lambda lr: np.clip(bicubic(lr) + np.tile(ladder, (lr.shape[0], lr.shape[1], 1)), 0, 255).astype(np.uint8)  # noqa: E731
    (eq_bicubic, border_bicubic), (eq_nearest, _), (eq_ladder, _) = (
        shift_consistency(f, hr) for f in (bicubic, nearest, laddered)
    )
    assert eq_bicubic > 40 and border_bicubic > 35, (eq_bicubic, border_bicubic)
    assert eq_nearest < eq_bicubic - 10 and eq_ladder < eq_bicubic - 10, (eq_bicubic, eq_nearest, eq_ladder)

    def edge_laddered(lr):  # the ladder only within 8 px of the right border
        out = bicubic(lr).astype(np.float64)
        out[:, -8:] += np.tile(ladder, (lr.shape[0], 2, 1))
        return np.clip(out, 0, 255).astype(np.uint8)

    big = np.clip(imresize(rng.uniform(0, 255, (24, 32, 3)), output_shape=(192, 256)), 0, 255).astype(np.uint8)
    (_, border_bicubic), (eq_edge, border_edge) = (shift_consistency(f, big) for f in (bicubic, edge_laddered))
    assert border_edge < border_bicubic - 5 and border_edge < eq_edge - 2, (border_bicubic, eq_edge, border_edge)


def test_shift_profile_pools_the_error_by_distance_from_each_edge():
    err = np.zeros((200, 300))
    err[:, -5:] = 4.0  # a band along the right edge
    prof = shift_profile(err, (0, 4, 8, 64), interior=64)
    assert [c for _, c in prof["right"]] == [4 * 72, 4 * 72, 56 * 72], (
        "200 - 2 x 64 rows, at least 64 px from the other edges"
    )
    assert prof["right"][0][0] == 4.0 * 4 * 72 and prof["right"][1][0] == 4.0 * 72 and prof["right"][2][0] == 0
    assert all(s == 0 for side in ("left", "top", "bottom") for s, _ in prof[side]), (
        "the band is more than 64 px from every other edge's bands"
    )


def test_worst_lattice_tile_finds_a_local_mesh_that_hr_does_not_have():
    rng = np.random.default_rng(3)
    base = 128 + rng.normal(0, 10, (128, 160, 3))
    pattern = np.zeros((4, 4))
    pattern[0::2, 0::2], pattern[1::2, 1::2] = 1.0, -1.0
    mesh = np.tile(pattern, (12, 12))[..., None]
    hr, sr = base.copy(), base.copy()
    hr[0:48, 0:48] += 12 * mesh  # a strong pattern that HR has too (content on the lattice)
    sr[0:48, 0:48] += 12 * mesh
    sr[64:112, 96:144] += 8 * mesh  # a weaker mesh that only SR has
    hr, sr = (np.clip(a, 0, 255).astype(np.uint8) for a in (hr, sr))
    sr_levels = lattice_levels(sr, 48, 16)
    assert np.unravel_index(np.argmax(sr_levels), sr_levels.shape) == (0, 0), (
        "SR's strongest tile is the shared pattern"
    )
    y, x, level, hr_level = worst_lattice_tile(sr_levels, lattice_levels(hr, 48, 16), 16)
    assert (y, x) == (64, 96)
    assert abs(level - 8 / np.sqrt(2) * 219 / 255) < 0.6 and hr_level < 0.6


def _gray_rgb(y: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(y, 0, 255)[..., None], 3, axis=2).round().astype(np.uint8)


def _step_and_blurred() -> tuple[np.ndarray, np.ndarray]:
    """A vertical luma step 60 -> 190 at column 40, and the same step Gaussian-blurred (sigma 1.5)."""
    step = np.full((64, 80), 60.0)
    step[:, 40:] = 190.0
    k = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    blurred = np.apply_along_axis(lambda r: np.convolve(np.pad(r, 4, mode="edge"), k / k.sum(), mode="valid"), 1, step)
    return step, blurred


def test_edge_overshoot_finds_a_drawn_halo_and_none_on_a_clean_step():
    from srgan.artifacts import edge_overshoot

    step, blurred = _step_and_blurred()
    hr = _gray_rgb(step)
    assert edge_overshoot(hr, hr) == 0.0
    assert edge_overshoot(_gray_rgb(blurred), hr) == 0.0, "a soft edge stays within HR's range"
    halo = step.copy()
    halo[:, 37:40], halo[:, 40:43] = 30.0, 220.0  # a dark line on the dark side, a bright rim on the bright side
    level = 30 * 219 / 255  # luma spans 219 of 255 levels
    assert abs(edge_overshoot(_gray_rgb(halo), hr) - 2 * level) < 0.5
    ringing = step + 8 * np.cos(np.arange(80) * np.pi / 2)[None, :] * (np.abs(np.arange(80) - 40) < 6)[None, :]
    assert 0 < edge_overshoot(_gray_rgb(ringing), hr) < edge_overshoot(_gray_rgb(halo), hr)
    flat = _gray_rgb(np.full((32, 32), 100.0))
    assert edge_overshoot(flat, flat) == 0.0, "no step edge: nothing to measure"


def test_edge_ringing_sees_a_second_line_inside_the_edges_range():
    from srgan.artifacts import edge_overshoot, edge_ringing

    step, blurred = _step_and_blurred()
    hr = _gray_rgb(step)
    assert edge_ringing(hr, hr) == 0.0
    assert edge_ringing(_gray_rgb(blurred), hr) < 1e-9, "a monotone edge, however soft, adds no variation"
    double = step.copy()
    double[:, 38] = 120.0  # a pale second line on the dark side, between the two sides' levels
    assert edge_overshoot(_gray_rgb(double), hr) == 0.0, "inside the range: the overshoot measure is blind"
    level = 60 * 219 / 255  # luma spans 219 of 255 levels
    assert abs(edge_ringing(_gray_rgb(double), hr) - 2 * level) < 1.0, "up and back down: twice the depth"
    halo = step.copy()
    halo[:, 37:40], halo[:, 40:43] = 30.0, 220.0
    assert abs(edge_ringing(_gray_rgb(halo), hr) - 4 * 30 * 219 / 255) < 1.0
    flat = _gray_rgb(np.full((32, 32), 100.0))
    assert edge_ringing(flat, flat) == 0.0


def test_edge_halo_measures_the_images_own_halo_so_hr_has_one_too():
    from srgan.artifacts import edge_halo, edge_overshoot

    step, blurred = _step_and_blurred()
    hr = _gray_rgb(step)
    assert edge_halo(hr, hr) == 0.0, "a clean step has no halo"
    assert edge_halo(_gray_rgb(blurred), hr) == 0.0, "a blurred monotone step has none either"
    halo = step.copy()
    halo[:, 37:40], halo[:, 40:43] = 30.0, 220.0  # a dark line on the dark side, a bright rim on the bright side
    level = 30 * 219 / 255  # luma spans 219 of 255 levels
    assert abs(edge_halo(_gray_rgb(halo), hr) - 2 * level) < 0.5
    sharpened = _gray_rgb(halo)  # a ground truth with its own (camera-sharpening) halo
    assert edge_overshoot(sharpened, sharpened) == 0.0, "the HR-relative measure is 0 for HR by construction"
    assert abs(edge_halo(sharpened, sharpened) - 2 * level) < 0.5, "the halo measure sees HR's own"
    assert edge_halo(hr, sharpened) == 0.0, "a clean step where HR is sharpened: less halo than HR"
    rim = step.copy()
    rim[:, 40:43] = 205.0  # only a bright rim, half as deep
    assert abs(edge_halo(_gray_rgb(rim), hr) - 15 * 219 / 255) < 0.5


def test_edge_halo_follows_oblique_edges_and_skips_lines_and_texture():
    from srgan.artifacts import edge_halo

    yy, xx = np.mgrid[:96, :96]
    dist = (xx + 0.6 * yy - 70) / np.hypot(1, 0.6)  # signed distance to an oblique edge
    step = np.where(dist > 0, 190.0, 60.0)
    halo = step.copy()
    halo[(dist > -3) & (dist <= 0)], halo[(dist > 0) & (dist < 3)] = 30.0, 220.0
    assert edge_halo(_gray_rgb(step), _gray_rgb(step)) == 0.0
    assert abs(edge_halo(_gray_rgb(halo), _gray_rgb(step)) - 60 * 219 / 255) < 1.5, "sampled along HR's normal"
    line = np.full((64, 80), 60.0)
    line[:, 38:41] = 200.0
    line[:, 41:] = 110.0  # a thin bright line between two levels: structure, not a halo
    assert edge_halo(_gray_rgb(line), _gray_rgb(line)) == 0.0, "HR's thin lines are left out"
    rng = np.random.default_rng(0)
    grain = np.where(np.arange(80) >= 40, 190.0, 60.0)[None, :] + rng.normal(0, 2, (64, 80))  # noisy clean step
    assert edge_halo(_gray_rgb(grain), _gray_rgb(grain)) < 3.0, "noise adds about its own deviation, not a halo's"
    flat = _gray_rgb(np.full((32, 32), 100.0))
    assert edge_halo(flat, flat) == 0.0, "no step edge: nothing to measure"
