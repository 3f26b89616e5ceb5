"""inference.vectors: the one normalisation of normals and directions."""
import numpy as np
import pytest

from inference import vectors


def test_unit_scales_to_length_one_and_keeps_direction():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 5, 3)).astype(np.float32) * 7.0
    out = vectors.unit(v)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.cross(out, v), 0.0, atol=1e-5)
    assert np.all(np.einsum("...c,...c->...", out, v) > 0)


def test_zero_and_tiny_vectors_become_the_fallback():
    v = np.array([[0.0, 0.0, 0.0], [1e-8, 0.0, 0.0], [0.0, 3.0, 4.0]])
    out = vectors.unit(v)
    assert out.dtype == np.float64                       # float64 maths stays float64
    np.testing.assert_array_equal(out[0], vectors.FACING)
    np.testing.assert_array_equal(out[1], vectors.FACING)
    np.testing.assert_allclose(out[2], [0.0, 0.6, 0.8])
    side = vectors.unit(v, fallback=(1.0, 0.0, 0.0), eps=1e-9)
    np.testing.assert_array_equal(side[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(side[1], [1.0, 0.0, 0.0])  # above eps: normalised, not replaced
    assert vectors.unit(np.array([0, 0, 2])).tolist() == [0.0, 0.0, 1.0]  # ints become float32


@pytest.mark.parametrize("shape", [(3, 4), (1, 1), (700, 333)])  # the last: several strips
def test_planes_agree_with_the_stacked_form(shape):
    rng = np.random.default_rng(1)
    x, y, z = (rng.normal(size=shape).astype(np.float32) for _ in range(3))
    x[0, 0] = y[0, 0] = z[0, 0] = 0.0
    np.testing.assert_allclose(vectors.unit_planes(x, y, z).reshape(shape + (3,)),
                               vectors.unit(np.dstack([x, y, z])), atol=1e-6)
