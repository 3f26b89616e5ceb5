"""inference.images: loading, colour, EXR naming, atomic writes, bad input."""
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from inference import images as I
from inference.errors import InputError, OutputError, RelitWarning


@pytest.fixture
def gradient():
    y, x = np.mgrid[0:24, 0:32].astype(np.float32)
    return np.stack([x / 31, y / 23, (x + y) / 54], axis=-1).astype(np.float32)


def test_srgb_round_trip_and_known_values():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(I.srgb_to_linear(I.linear_to_srgb(x)) - x).max() < 1e-5
    assert I.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert I.linear_to_srgb(np.float32(0.0031308)) == pytest.approx(0.04045, abs=1e-5)


def test_png_8_and_16_bit_round_trip(tmp_path, gradient):
    I.save_png(tmp_path / "a.png", gradient)
    back = I.load_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == gradient.shape
    # 8-bit sRGB: one code value near white is ~0.004 in linear.
    assert np.abs(back - gradient).max() < 5e-3
    I.save_png(tmp_path / "b.png", gradient, bits=16)
    assert np.abs(I.load_image(tmp_path / "b.png") - gradient).max() < 1e-4
    raw = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16


def test_data_png_is_not_decoded(tmp_path, gradient):
    I.save_png(tmp_path / "n.png", gradient, data=True)
    back = I.load_image(tmp_path / "n.png", data=True)
    assert np.abs(back - gradient).max() <= 0.5 / 255 + 1e-6


def test_grey_and_rgba(tmp_path, gradient):
    grey = (gradient[..., :1] * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey[..., 0])
    g = I.load_image(tmp_path / "g.png")
    assert g.shape == (24, 32, 1)
    rgba = np.concatenate([gradient, gradient[..., :1]], axis=-1)
    I.save_png(tmp_path / "rgba.png", rgba)
    back = I.load_image(tmp_path / "rgba.png")
    assert back.shape == (24, 32, 4)
    # Alpha is stored linearly, never sRGB-decoded.
    assert np.abs(back[..., 3] - gradient[..., 0]).max() <= 0.5 / 255 + 1e-6
    rgb, alpha = I.split_alpha(back)
    assert rgb.shape == (24, 32, 3) and alpha.shape == (24, 32)
    assert I.to_rgb(g).shape == (24, 32, 3)


def test_jpeg_tiff_pgm(tmp_path, gradient):
    I.save_jpeg(tmp_path / "a.jpg", gradient)
    assert np.abs(I.load_image(tmp_path / "a.jpg") - gradient).mean() < 0.02
    f32 = gradient * 4.0  # HDR float TIFF stays linear and unclipped
    cv2.imwrite(str(tmp_path / "f.tif"), f32[..., ::-1].copy(), [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    assert np.allclose(I.load_image(tmp_path / "f.tif"), f32)
    u16 = (gradient * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "u.tif"), u16[..., ::-1].copy())
    assert np.abs(I.load_image(tmp_path / "u.tif", data=True) - gradient).max() < 1e-4
    cv2.imwrite(str(tmp_path / "p.pgm"), (gradient[..., 0] * 255).astype(np.uint8))
    assert I.load_image(tmp_path / "p.pgm", data=True).shape == (24, 32, 1)


def test_exif_orientation_is_honoured(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # bright band on the stored left
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90° clockwise
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=98)
    out = I.load_image(tmp_path / "rot.jpg")
    assert out.shape[:2] == (40, 20)
    assert out[:10].mean() > 0.8 and out[-10:].mean() < 0.1  # band now on top
    for tag in range(1, 9):
        assert I.apply_exif_orientation(pixels, tag).size == pixels.size
    img.save(tmp_path / "rot.png", exif=exif.tobytes())  # a PNG's eXIf chunk, read undecoded
    assert I.exif_orientation(tmp_path / "rot.png") == 6
    png = I.load_image(tmp_path / "rot.png")
    assert png.shape[:2] == (40, 20) and png[:10].min() == 1.0 and png[-10:].max() == 0.0


def test_integer_files_decode_through_lookup_tables_as_the_curve_does(tmp_path):
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    out = I.load_image(tmp_path / "a.png")
    assert np.allclose(out[..., :3], I.srgb_to_linear(rgba[..., :3] / 255.0), atol=1e-7)
    assert np.allclose(out[..., 3], rgba[..., 3] / 255.0, atol=1e-7)  # alpha is not decoded
    u16 = rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "b.png"), u16[..., ::-1])
    assert np.allclose(I.load_image(tmp_path / "b.png"), I.srgb_to_linear(u16 / 65535.0),
                       atol=1e-7)
    assert np.allclose(I.load_image(tmp_path / "b.png", data=True), u16 / 65535.0, atol=1e-7)


def test_exr_single_and_multilayer(tmp_path, gradient):
    I.save_exr(tmp_path / "a.exr", gradient, half=False)
    assert np.array_equal(I.load_image(tmp_path / "a.exr"), gradient)
    I.save_exr(tmp_path / "s.exr", gradient[..., 0])
    assert set(I.read_exr_channels(tmp_path / "s.exr")) == {"Y"}
    assert I.load_image(tmp_path / "s.exr").shape == (24, 32, 1)
    normal = I.rgb_to_normal(gradient)
    I.save_multilayer_exr(tmp_path / "m.exr", {
        "Combined": np.concatenate([gradient, np.ones_like(gradient[..., :1])], -1),
        "Normal": (normal, "XYZ"), "Roughness": gradient[..., 1]}, half=False)
    names = set(I.read_exr_channels(tmp_path / "m.exr"))
    assert {"ViewLayer.Normal.X", "ViewLayer.Normal.Z", "ViewLayer.Combined.A",
            "ViewLayer.Roughness.X"} <= names
    layers = I.read_exr_layers(tmp_path / "m.exr")
    assert np.allclose(layers["ViewLayer.Normal"], normal)
    # A plain reader of the multi-layer file gets the Combined pass.
    assert I.load_image(tmp_path / "m.exr").shape == (24, 32, 4)


def test_half_exr_precision(tmp_path, gradient):
    I.save_exr(tmp_path / "h.exr", gradient * 100)
    back = I.load_image(tmp_path / "h.exr")
    assert np.allclose(back, gradient * 100, rtol=1e-3, atol=1e-3)


def test_nan_inf_exr_is_sanitised_with_warning(tmp_path, gradient):
    bad = gradient.copy()
    bad[0, 0, 0], bad[1, 1, 1], bad[2, 2, 2] = np.nan, np.inf, -np.inf
    I.save_exr(tmp_path / "bad.exr", bad, half=False)
    with pytest.warns(RelitWarning, match="NaN/Inf"):
        out = I.load_image(tmp_path / "bad.exr")
    assert np.isfinite(out).all()
    assert out[1, 1, 1] == pytest.approx(np.nanmax(gradient))


@pytest.mark.parametrize("name, content, message", [
    ("empty.png", b"", "empty"),
    ("junk.png", b"not an image at all", "decode"),
    ("photo.gif", b"GIF89a", "unsupported"),
    ("junk.exr", b"\x76\x2f\x31\x01garbage", "EXR"),
])
def test_bad_files_raise_input_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        I.load_image(tmp_path / name)


def test_truncated_png_and_missing_file(tmp_path, gradient):
    I.save_png(tmp_path / "a.png", np.random.default_rng(0).random((64, 64, 3)))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated|decode"):
        I.load_image(tmp_path / "cut.png")
    with pytest.raises(InputError, match="not found"):
        I.load_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="folder"):
        I.load_image(tmp_path)


def test_one_pixel_image(tmp_path):
    I.save_png(tmp_path / "one.png", np.full((1, 1, 3), 0.5, np.float32))
    assert I.load_image(tmp_path / "one.png").shape == (1, 1, 3)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, gradient):
    target = tmp_path / "keep.png"
    I.save_png(target, gradient)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with I.atomic_path(target) as tmp:
            open(tmp, "wb").write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
    with pytest.raises(OutputError, match="exists"):
        I.save_png(target, gradient, overwrite=False)


def test_unwritable_destination(tmp_path, gradient):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="cannot write"):
        I.save_png(blocker / "x.png", gradient)


def test_contact_sheet_and_resize(gradient):
    sheet = I.contact_sheet([("a", gradient), ("n", gradient[..., :1])], tile=64, columns=2,
                            data_labels=("n",))
    assert sheet.shape == (84, 128, 3) and sheet.max() > 0.5
    assert I.resize(gradient, (12, 16)).shape == (12, 16, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        I.sanitize_image(gradient)


def test_sweep_temporaries_removes_only_stale_temporaries(tmp_path):
    import os
    import time
    from inference import images
    with images.atomic_path(tmp_path / "kept.exr") as live:
        stale = tmp_path / ".passes.k2j4h_9a.tmp.exr"
        stale.write_bytes(b"half")
        old = time.time() - 2 * images.STALE_AFTER_S
        os.utime(stale, (old, old))
        user = tmp_path / ".notes.tmp.txt"          # not named as Relit names its temporaries
        user.write_text("mine")
        os.utime(user, (old, old))
        swept = images.sweep_temporaries(tmp_path)
        assert swept == [stale]
        assert os.path.exists(live)                  # a writer still running keeps its file
    assert user.exists() and (tmp_path / "kept.exr").exists()


def test_half_exr_is_clipped_and_rounded_as_numpy_rounds(tmp_path):
    rng = np.random.default_rng(5)
    pixels = (rng.standard_normal((16, 12)) * 3e4).astype(np.float32)
    pixels[0, 0], pixels[0, 1] = 1e6, -1e6                # past half's range: clipped, not inf
    I.save_exr(tmp_path / "h.exr", pixels, half=True)
    back = I.read_exr_channels(tmp_path / "h.exr")["Y"]
    want = np.clip(pixels, -65504, 65504).astype(np.float16).astype(np.float32)
    assert np.array_equal(back, want)
    assert I.use_exr_threads() >= 0                        # the codec's pool is set once


def test_a_weighted_blur_leaves_out_what_weighs_nothing():
    x = np.full((40, 40, 2), 100.0, np.float32)
    weight = np.zeros((40, 40), np.float32)
    weight[:, :20] = 1.0
    x[:, :20] = [1.0, 2.0]
    out = I.weighted_blur(x, weight, 4.0)
    assert out.shape == x.shape
    assert np.allclose(out[:, :30], [1.0, 2.0], atol=1e-4)  # the backdrop does not leak in
