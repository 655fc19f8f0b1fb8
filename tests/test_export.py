import pytest

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from srgan.cli import main  # noqa: E402
from srgan.export import check_onnx, export_onnx  # noqa: E402
from srgan.hub import load_generator  # noqa: E402


def test_onnx_dynamic_shapes_match_pytorch(tmp_path, tiny_model_file):
    g, _ = load_generator(tiny_model_file)
    path = export_onnx(g, tmp_path / "m.onnx")
    err = check_onnx(g, path, shapes=((16, 16), (23, 41), (9, 70)))
    assert err < 1e-4


def test_cli_export(tmp_path, tiny_model_file, capsys):
    assert main(["export", "-m", str(tiny_model_file), "-o", str(tmp_path / "t.onnx")]) == 0
    out = capsys.readouterr().out
    assert "max abs error" in out and (tmp_path / "t.onnx").stat().st_size > 1000
