"""inference.models (registry, checksums, sessions) and inference.tiling (seams, padding)."""
import json

import numpy as np
import pytest

from inference import tiling
from inference.errors import Cancelled, ModelNotInstalled
from inference.models import Registry

from onnx_graphs import channel_slice, identity_conv, install


@pytest.fixture
def registry(tmp_path):
    install(tmp_path, "ident", identity_conv(3), "RGB", "RGB", stride=8)
    return Registry(tmp_path, threads=1)


def test_registry_reads_manifest_and_runs(registry):
    assert registry.names() == ["ident"]
    spec = registry.spec("ident")
    assert spec.stride == 8 and spec.inputs[0].channels == ("R", "G", "B")
    x = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    out = registry.run("ident", {"input": x})["output"]
    assert np.array_equal(out, x)
    assert registry.session("ident") is registry.session("ident")  # cached
    assert registry.status() == {"ident": "ok"}


def test_unlisted_missing_and_corrupt_models_name_themselves(registry, tmp_path):
    with pytest.raises(ModelNotInstalled, match="model not installed: normal_net"):
        registry.session("normal_net")
    (tmp_path / "ident.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelNotInstalled, match="ident.*checksum mismatch"):
        registry.session("ident")
    (tmp_path / "ident.onnx").unlink()
    with pytest.raises(ModelNotInstalled, match="ident.*file missing"):
        registry.verify("ident")
    assert registry.status()["ident"].startswith("model not installed: ident")


def test_malformed_entry_and_empty_models_dir(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": 1, "models": {"x": {}}}))
    with pytest.raises(ModelNotInstalled, match="x.*malformed"):
        Registry(tmp_path).spec("x")
    assert Registry(tmp_path / "nowhere").names() == []


def test_shipped_manifest_is_consistent():
    reg = Registry()
    for name in reg.names():
        reg.verify(name)  # every shipped model's sha256 matches


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 64), (300, 517), (1025, 130)])
def test_identity_graph_survives_tiling_exactly(registry, shape):
    rng = np.random.default_rng(1)
    image = rng.random((*shape, 3), dtype=np.float32)
    opts = tiling.TileOptions(tile=128, overlap=32, stride=8)

    def fn(x):
        return registry.run("ident", {"input": x})["output"]

    out = tiling.run_tiled(fn, image, opts)
    assert out.shape == image.shape and out.dtype == np.float32
    if tiling.count_tiles(*shape, opts) == 1:
        assert np.array_equal(out, image)
    else:  # blended in float32: the input back to rounding in the overlaps, exactly elsewhere
        assert np.allclose(out, image, rtol=0, atol=4e-7)
        assert np.mean(out == image) > 0.5


def test_tiles_overlap_and_cover():
    opts = tiling.TileOptions(tile=128, overlap=32, stride=32)
    assert tiling.count_tiles(100, 100, opts) == 1
    assert tiling.count_tiles(1000, 300, opts) > 8
    cover = np.zeros((1000, 300))
    for sy, sx, w in tiling.iter_tiles(1024, 320, opts):
        assert w.min() > 0
        cover[sy, sx][: min(1000, sy.stop) - sy.start] += 1
    assert cover.min() >= 1


def test_seams_blend_smoothly_for_a_position_dependent_net():
    """A net whose output depends on the tile (adds the tile mean) must not show hard seams."""
    image = np.tile(np.linspace(0, 1, 400, dtype=np.float32)[None, :, None], (200, 1, 1))

    def fn(x):
        return x + x.mean()

    out = tiling.run_tiled(fn, image, tiling.TileOptions(tile=128, overlap=48, stride=16))
    jumps = np.abs(np.diff(out[100, :, 0]))
    assert jumps.max() < 0.03  # the image itself steps 0.0025 per pixel


def test_channel_change_cancel_and_bad_output():
    image = np.ones((50, 60, 4), np.float32)
    net = channel_slice(4, 1, 3)
    import onnxruntime as ort
    sess = ort.InferenceSession(net.SerializeToString(), providers=["CPUExecutionProvider"])
    out = tiling.run_tiled(lambda x: sess.run(None, {"input": x})[0], image,
                           tiling.TileOptions(tile=32, overlap=8, stride=8))
    assert out.shape == (50, 60, 2)
    with pytest.raises(Cancelled):
        tiling.run_tiled(lambda x: x, image, cancel=lambda: True)
    with pytest.raises(Exception, match="shape"):
        tiling.run_tiled(lambda x: x[:, :, :-1], image)


def test_progress_reports_every_tile():
    seen = []
    tiling.run_tiled(lambda x: x, np.zeros((300, 300, 1), np.float32),
                     tiling.TileOptions(tile=128, overlap=32, stride=32),
                     progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and len(seen) == tiling.count_tiles(300, 300, tiling.TileOptions(
        tile=128, overlap=32, stride=32))


def test_one_tile_gives_the_function_output_cropped_from_the_padding():
    # a position-dependent function: each output pixel is its padded column index
    def fn(x):
        cols = np.arange(x.shape[3], dtype=np.float32)
        return np.broadcast_to(cols, (1, 2, x.shape[2], x.shape[3])) + x[:, :1]

    image = np.random.default_rng(1).random((37, 45, 3), dtype=np.float32)
    seen = []
    out = tiling.run_tiled(fn, image, tiling.TileOptions(tile=64, overlap=8, stride=16),
                           lambda f, m: seen.append((f, m)))
    assert out.shape == (37, 45, 2) and out.dtype == np.float32 and out.flags.c_contiguous
    expect = np.arange(45, dtype=np.float32)[None, :] + image[..., 0]
    assert np.array_equal(out[..., 0], expect) and np.array_equal(out[..., 1], expect)
    assert seen == [(1.0, "tile 1/1")]
