"""inference.writer: pass folders written by a worker process while the next frame computes."""
import numpy as np
import pytest

from inference import writer
from inference.errors import OutputError
from inference.passes import Passes


@pytest.fixture(autouse=True)
def worker_allowed(monkeypatch):
    """The Blender tests load bpy into this process, where a writer stays in process; the
    worker itself never loads bpy, so these tests may start it."""
    monkeypatch.setattr(writer, "background_allowed", lambda: True)


def _passes(value: float) -> Passes:
    rgb = np.full((12, 16, 3), value, np.float32)
    normal = np.dstack([np.zeros((12, 16, 2), np.float32), np.ones((12, 16), np.float32)])
    return Passes(rgb=rgb, alpha=np.ones((12, 16), np.float32), normal=normal, albedo=rgb)


@pytest.mark.parametrize("background,shared", [(True, True), (True, False), (False, False)])
def test_frames_are_written_whole_and_failures_come_back_with_their_frame(tmp_path, monkeypatch,
                                                                          background, shared):
    """In the caller, or by the worker with the arrays in shared memory or (no room in
    /dev/shm) in the message."""
    if not shared:
        monkeypatch.setattr(writer, "_shared_room", lambda: 0)
    (tmp_path / "a_file").write_text("in the way")
    targets = [tmp_path / "out" / "f1", tmp_path / "a_file" / "f2", tmp_path / "out" / "f3"]
    failures = []
    with writer.FolderWriter(background=background) as w:
        assert w.background == background
        for i, folder in enumerate(targets):
            passes = _passes(0.1 * (i + 1))
            failures += w.write(folder.name, passes, folder, False, singles=False,
                                previews=False)
            passes.rgb[:] = 9.0   # the caller's next frame: what was handed over is kept
        failures += w.finish()
        assert (w._block is not None) == shared
    assert [key for key, _ in failures] == ["f2"]
    assert isinstance(failures[0][1], OutputError) and "a_file" in str(failures[0][1])
    for i in (0, 2):
        got = Passes.load(targets[i])
        assert np.allclose(got.rgb, 0.1 * (i + 1), atol=1e-3)
        assert sorted(p.name for p in targets[i].iterdir()) == ["lighting.json", "passes.exr"]
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_a_frame_that_exists_is_kept_without_overwrite(tmp_path):
    folder = tmp_path / "f1"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep")
    with writer.FolderWriter(background=True) as w:
        failed = w.write("f1", _passes(0.5), folder, False) + w.finish()
    assert "exists" in str(failed[0][1]) and sorted(p.name for p in folder.iterdir()) == [
        "mine.txt"]


def test_a_worker_that_dies_is_a_failure_of_its_frame(tmp_path):
    with writer.FolderWriter(background=True) as w:
        assert w.write("f0", _passes(0.2), tmp_path / "f0", False) + w.finish() == []
        w._worker.kill()
        w._worker.wait()
        failed = w.write("f1", _passes(0.3), tmp_path / "f1", False) + w.finish()
    assert [key for key, _ in failed] == ["f1"] and "writer process stopped" in str(failed[0][1])
    assert not (tmp_path / "f1").exists()
