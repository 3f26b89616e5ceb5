"""Plate = reference, through files: a portrait decomposed by ``python -m inference decompose``,
then its pass folder rendered two ways under the same lighting, with the numpy
``python -m inference relight`` and with ``blender --command relit relight`` (Cycles, the
batch defaults: displaced plate, orthographic camera, OpenImageDenoise), both written as
linear EXRs and compared inside the matte.

Lighting: ``forest`` at 40°, ``interior`` at 308.44° (two thirds of its power arrives from
behind the plate, which a flat card cannot receive: the case that found the bug) and one area
light from ``--lights LIGHTS.json``. Both renderers cast the relief's shadows by default, but
under an HDRI they model them differently: ``inference.render`` shadows four key lights of the
HDRI, Cycles' relief occludes the whole world (its sky too). So the HDRI cases compare the
shading with ``--no-shadows`` on both sides (the relief then occludes nothing in either), and
the area light compares the defaults, cast shadows included. With the defaults under the HDRIs,
on grace_hopper's full-size pass folder at 128 samples: forest 32.0 dB (mean 0.97-0.99),
interior 27.0 dB (0.93), the difference of the two occlusion models. The area light agrees
because the numpy render places each pixel on the displaced relief, as the plate is
(``render.displaced_positions``): on the flat plane its level was 2.2 % below Cycles' without
shadows and 3.5 % with them.

Measure: over the pixels where both alphas are above 0.99, shrunk by 2 px (Cycles' 1.5 px pixel
filter mixes the background in at the matte's edge), PSNR of the sRGB-encoded colour (clipped to
[0, 1], peak 1) and the ratio of the mean linear colour, per channel.
"""
import importlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference import cli, images
from inference.demo import portrait_path

pytestmark = pytest.mark.blender

SIZE = 128            # the portrait's top square, resized: 128 x 128 pixels
SAMPLES = "128"
MIN_PSNR = 30.0
MAX_MEAN_ERROR = 0.02

AREA = [{"type": "area", "position": [-0.9, -1.6, 0.7], "direction": [0.9, 1.6, -0.7],
         "power": 60.0, "size": 0.6}]
CASES = {
    "forest": (["--hdri", "forest", "--rotation", "40"], ["--no-shadows"]),
    "interior": (["--hdri", "interior", "--rotation", "308.44"], ["--no-shadows"]),
    "area": (["--lights", "LIGHTS"], []),
}


@pytest.fixture(scope="module")
def pass_folder(tmp_path_factory) -> Path:
    """grace_hopper.jpg's top square at SIZE pixels, decomposed by the CLI into a pass folder."""
    tmp = tmp_path_factory.mktemp("plate_reference")
    photo = images.load_image(portrait_path())
    side = min(photo.shape[:2])
    small = images.resize(photo[:side, :side], (SIZE, SIZE))
    source = tmp / "portrait.png"
    images.save_image(source, small)
    assert cli.main(["--quiet", "decompose", str(source), "--out", str(tmp / "passes")]) == 0
    folder = tmp / "passes" / "portrait"
    assert (folder / "height.exr").is_file()
    (tmp / "lights.json").write_text(json.dumps(AREA))
    return folder


@pytest.fixture
def batch(relit):
    return importlib.import_module(relit + ".app.command")


def _lighting(args, folder: Path) -> list:
    return [str(folder.parent.parent / "lights.json") if a == "LIGHTS" else a for a in args]


def _compare(reference: np.ndarray, plate: np.ndarray) -> tuple[float, np.ndarray]:
    inside = (reference[..., 3] > 0.99) & (plate[..., 3] > 0.99)
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 0.3 * inside.size
    ref, out = reference[..., :3][inside], plate[..., :3][inside]
    srgb = [images.linear_to_srgb(np.clip(x, 0.0, 1.0)) for x in (ref, out)]
    psnr = 10.0 * np.log10(1.0 / float(np.mean((srgb[0] - srgb[1]) ** 2)))
    return psnr, out.mean(0) / ref.mean(0)


@pytest.mark.parametrize("case", CASES)
def test_cycles_plate_matches_the_numpy_relight(batch, pass_folder, tmp_path, case):
    lighting, extra = CASES[case]
    lighting = _lighting(lighting, pass_folder)
    numpy_out, cycles_out = tmp_path / "numpy.exr", tmp_path / "cycles.exr"
    assert cli.main(["--quiet", "relight", str(pass_folder), *lighting, *extra,
                     "--out", str(numpy_out)]) == 0
    assert batch.run(["--quiet", "relight", str(pass_folder), *lighting, *extra,
                      "--samples", SAMPLES, "--out", str(cycles_out)]) == 0
    psnr, ratio = _compare(images.load_image(numpy_out), images.load_image(cycles_out))
    print(f"\n{case} {' '.join(lighting + extra)}: PSNR {psnr:.2f} dB, mean Cycles/numpy "
          f"{np.round(ratio, 4)}")
    assert psnr >= MIN_PSNR
    assert np.all(np.abs(ratio - 1.0) <= MAX_MEAN_ERROR)
