import numpy as np
import pytest
from conftest import natural_image
from PIL import Image

from srgan.cli import main
from srgan.image_io import ImageData, read_image, write_image
from srgan.provenance import make_record, read_provenance


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_provenance_roundtrip(tmp_path, ext):
    img = ImageData(natural_image(8, 8).astype(np.float32) / 255)
    img.provenance = make_record("srresnet-x4", 4, (2, 2), alpha=0.5)
    p = write_image(tmp_path / f"o.{ext}", img)
    rec = read_provenance(p)
    assert rec["synthesized"] is True and rec["model"] == "srresnet-x4" and rec["scale"] == 4
    assert rec["alpha"] == 0.5 and rec["input_size"] == [2, 2] and rec["software"].startswith("srgan ")


def test_provenance_in_16bit_png_and_absent_elsewhere(tmp_path):
    img = ImageData((natural_image(6, 6).astype(np.float32) / 255), bit_depth=16)
    img.provenance = make_record("m", 2, (3, 3))
    p = write_image(tmp_path / "o.png", img)
    assert read_provenance(p)["model"] == "m" and read_image(p).bit_depth == 16
    Image.fromarray(natural_image(6, 6)).save(tmp_path / "plain.png")
    assert read_provenance(tmp_path / "plain.png") is None


def test_cli_upscale_marks_outputs_and_inspect_reads_it(tmp_path, tiny_model_file, capsys):
    Image.fromarray(natural_image(10, 10)).save(tmp_path / "a.png")
    Image.fromarray(natural_image(10, 10)).save(tmp_path / "b.jpg")
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.jpg"),
                "-o",
                str(tmp_path / "out"),
                "-m",
                str(tiny_model_file),
                "-q",
            ]
        )
        == 0
    )
    for name in ("a.png", "b.jpg"):
        rec = read_provenance(tmp_path / "out" / name)
        assert rec["model"] == "tiny-x4" and rec["input_size"] == [10, 10] and rec["source"] == name
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "out" / "a.png"), str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "synthesised by super-resolution" in out and "no srgan provenance" in out
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "a.png"),
                "-o",
                str(tmp_path / "opt"),
                "-m",
                str(tiny_model_file),
                "-q",
                "--no-provenance",
            ]
        )
        == 0
    )
    assert read_provenance(tmp_path / "opt" / "a.png") is None
