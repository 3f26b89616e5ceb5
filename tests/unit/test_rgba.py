"""RGBA at Relit's edges: sRGB-encoded colour decoded, alpha added, straight alpha."""
import numpy as np

from inference import images, rgba


def test_decoding_leaves_alpha_alone():
    pixels = np.full((2, 3, 4), 0.5, np.float32)
    out = rgba.decode_srgb_colour(pixels)
    np.testing.assert_allclose(out[..., :3], images.srgb_to_linear(np.float32(0.5)))
    np.testing.assert_allclose(out[..., 3], 0.5)


def test_with_alpha_is_opaque_for_an_image_without_one():
    grey = np.full((2, 2, 1), 0.25, np.float32)
    out = rgba.with_alpha(grey)
    assert out.shape == (2, 2, 4)
    np.testing.assert_allclose(out[..., :3], 0.25)
    np.testing.assert_allclose(out[..., 3], 1.0)
    four = np.zeros((2, 2, 4), np.float32)
    assert rgba.with_alpha(four) is four


def test_unpremultiply_divides_by_alpha_and_zeroes_empty_pixels():
    premultiplied = np.array([[[0.2, 0.1, 0.0, 0.5], [0.3, 0.3, 0.3, 0.0]]], np.float32)
    out = rgba.unpremultiply(premultiplied)
    np.testing.assert_allclose(out[0, 0], [0.4, 0.2, 0.0, 0.5])
    np.testing.assert_allclose(out[0, 1], [0.0, 0.0, 0.0, 0.0])
