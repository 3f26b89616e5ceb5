"""The plate's geometry without Blender: plane size, grid counts, matte cover, relief."""
import numpy as np
import pytest

from inference import plate_geometry as geometry


def test_plane_size_keeps_the_image_aspect_inside_the_frame():
    assert geometry.plane_size((1.6, 0.9), 160, 90) == pytest.approx((1.6, 0.9))
    assert geometry.plane_size((1.6, 0.9), 100, 100) == pytest.approx((0.9, 0.9))  # tall
    assert geometry.plane_size((1.0, 1.0), 200, 100) == pytest.approx((1.0, 0.5))  # wide


def test_grid_counts_put_subdivisions_on_the_long_side_at_most_one_per_pixel():
    assert geometry.grid_counts(200, 100, 64) == (64, 32)
    assert geometry.grid_counts(100, 200, 64) == (32, 64)
    assert geometry.grid_counts(20, 10, 256) == (20, 10)       # one quad per pixel at most
    assert geometry.grid_counts(1000, 1, 16) == (16, 1)        # never 0 quads


def test_matte_cover_holds_a_pixel_s_quad_and_its_neighbours():
    cover = geometry.matte_cover(np.pad(np.ones((1, 1)), ((5, 4), (2, 7))), (10, 10))
    assert cover.sum() == 9 and cover[3:6, 1:4].all()   # one pixel: its quad and neighbours
    assert not geometry.matte_cover(np.full((8, 8), geometry.COVER_THRESHOLD), (4, 4)).any()


def test_relief_extends_the_height_past_the_matte():
    height = np.zeros((4, 6), np.float32)
    height[:, :3] = 0.2
    alpha = np.zeros((4, 6), np.float32)
    alpha[:, :3] = 1.0
    out = geometry.relief({"height": height[..., None], "alpha": alpha})
    assert out.shape == (4, 6) and np.allclose(out, 0.2)     # no cliff at the matte's edge
    assert geometry.relief({"height": height}) is height         # no matte: as it is
    assert geometry.relief({"alpha": alpha}) is None
