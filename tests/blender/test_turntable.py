"""The factory's turntable: one subject and lighting, only the head turns, frames resume."""
import json

import numpy as np
import pytest

pytestmark = pytest.mark.blender


def test_two_frame_turntable(tmp_path):
    from training.synth import turntable

    out = tmp_path / "tt"
    args = ["--frames", "2", "--res", "32", "--samples", "2", "--threads", "1",
            "--step", "3", "--out", str(out)]
    assert turntable.main(args) == 0
    metas = [json.loads(str(np.load(out / f"frame.{f:04d}.npz")["meta"])) for f in (0, 1)]
    p0, p1 = metas[0]["params"], metas[1]["params"]
    assert p1["pose"]["yaw"] - p0["pose"]["yaw"] == pytest.approx(3.0)
    assert {k: v for k, v in p0.items() if k != "pose"} == {
        k: v for k, v in p1.items() if k != "pose"}
    from inference import images
    assert images.load_image(out / "plate.0001.exr").shape == (32, 32, 3)
    before = (out / "frame.0000.npz").stat().st_mtime_ns
    assert turntable.main(args) == 0  # a rerun skips finished frames
    assert (out / "frame.0000.npz").stat().st_mtime_ns == before
