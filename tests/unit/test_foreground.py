"""inference.foreground: the subject's colours under a soft matte, by blur fusion."""
import numpy as np
import pytest

from inference.foreground import estimate_foreground


def _composite(h=96, w=128):
    """A subject (a warm gradient, left) over a blue background through a soft vertical edge."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    subject = np.dstack([0.7 + 0.2 * y / h, 0.45 + 0.1 * x / w, 0.3 + 0 * x])
    background = np.dstack([0.1 + 0 * x, 0.25 + 0.1 * y / h, 0.9 + 0 * x])
    alpha = np.clip((80 - x) / 24, 0, 1)
    image = alpha[..., None] * subject + (1 - alpha[..., None]) * background
    return image.astype(np.float32), alpha.astype(np.float32), subject.astype(np.float32)


def test_the_subjects_colour_comes_back_under_the_soft_edge():
    image, alpha, subject = _composite()
    fg = estimate_foreground(image, alpha)
    soft = (alpha > 0.05) & (alpha < 0.95)
    before = np.abs(image - subject)[soft].mean()
    after = np.abs(fg - subject)[soft].mean()
    assert after < 0.2 * before
    assert np.array_equal(fg[alpha == 1], image[alpha == 1])   # solid pixels untouched
    # beyond the matte the subject's colours are carried outward, not the background's
    assert np.abs(fg[alpha == 0] - [0.1, 0.3, 0.9]).mean() > 0.3


def test_a_single_plane_and_an_opaque_matte():
    image, alpha, subject = _composite(40, 60)
    plane = estimate_foreground(image[..., 0], alpha)
    assert plane.shape == (40, 60) and plane.dtype == np.float32
    assert np.allclose(plane, estimate_foreground(image, alpha)[..., 0], atol=1e-6)
    opaque = np.ones((40, 60), np.float32)
    out = estimate_foreground(image, opaque)
    assert np.array_equal(out, image) and out is not image


def test_sizes_must_agree():
    with pytest.raises(ValueError, match="differ"):
        estimate_foreground(np.zeros((8, 8, 3), np.float32), np.zeros((8, 9), np.float32))
