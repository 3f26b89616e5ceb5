"""Frame ranges and chunks: --frames, --warmup, and chunked runs against one run."""
from pathlib import Path

import numpy as np
import pytest

from inference import cli, frames
from inference.errors import InputError, OutputError
from inference.passes import Passes
from plate_sequences import plate_sequence, tree_bytes

PASSES = ("normal", "albedo", "roughness", "reflectivity", "alpha", "height")


def run(argv, capsys):
    code = cli.main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# ---------------------------------------------------------------- parsing and planning

def test_parse_and_format_frames():
    assert frames.parse_frames("1001-1003,1010") == [1001, 1002, 1003, 1010]
    assert frames.parse_frames(" 1-9:4 , 3 ") == [1, 3, 5, 9]
    assert frames.parse_frames("7") == [7]
    assert frames.format_frames([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    for bad in ("", "a-b", "5-1", "1-9:0", "1--3", "1,,2"):
        with pytest.raises(InputError):
            frames.parse_frames(bad)
    with pytest.raises(InputError, match="more than"):
        frames.parse_frames("1-100000000")


def test_default_warmup_leaves_one_percent_of_history():
    assert frames.default_warmup(0.0) == 0
    for s in (0.3, 0.5, 0.7, 0.9):
        n = frames.default_warmup(s)
        assert s ** n <= frames.WARMUP_RESIDUAL < s ** (n - 1)
    assert frames.default_warmup(0.7) == 13
    assert frames.default_warmup(0.999) == frames.WARMUP_CAP


def test_plan_warms_up_before_each_run_and_restarts_after_gaps():
    paths = [Path(f"p.{i:04d}.png") for i in range(1, 21)]
    steps = frames.plan(paths, "5-8,12,18-19", 3)
    read = [(s.frame, s.write, s.restart) for s in steps]
    assert read == [(2, False, True), (3, False, False), (4, False, False),
                    (5, True, False), (6, True, False), (7, True, False), (8, True, False),
                    (9, False, False), (10, False, False), (11, False, False), (12, True, False),
                    (15, False, True), (16, False, False), (17, False, False),
                    (18, True, False), (19, True, False)]
    assert [s.frame for s in frames.plan(paths, "1-2", 5)] == [1, 2]  # nothing before frame 1
    assert all(s.write for s in frames.plan(paths, None, 5))
    with pytest.raises(InputError, match="no frames 21-22"):
        frames.plan(paths, "19-22", 0)
    with pytest.raises(InputError, match="warmup"):
        frames.plan(paths, "1-2", -1)
    with pytest.raises(InputError, match="no frame number"):
        frames.select([Path("a.png")], "1")


def test_outputs_folder_pattern_and_clash(tmp_path):
    sources = [tmp_path / "plate.1001", tmp_path / "plate.1002"]
    assert frames.outputs(sources, tmp_path / "r", ".png") == [
        tmp_path / "r" / "plate.1001.png", tmp_path / "r" / "plate.1002.png"]
    assert frames.outputs(sources, tmp_path / "r" / "shot.####.exr", ".png") == [
        tmp_path / "r" / "shot.1001.exr", tmp_path / "r" / "shot.1002.exr"]
    assert frames.outputs(sources, tmp_path / "r" / "s.%06d.png", ".png")[0].name == \
        "s.001001.png"
    with pytest.raises(InputError, match="output folder"):
        frames.outputs(sources, tmp_path / "one.png", ".png")
    with pytest.raises(InputError, match="both write"):
        frames.outputs([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"], tmp_path, ".png")


def test_atomic_folder_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out" / "plate.0001"
    with pytest.raises(RuntimeError):
        with frames.atomic_folder(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("stopped")
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    with frames.atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(OutputError, match="--overwrite"):
        with frames.atomic_folder(target):
            pass
    (target / "keep.txt").write_text("mine")
    with frames.atomic_folder(target, overwrite=True) as tmp:
        (tmp / "a.txt").write_text("2")
    assert (target / "a.txt").read_text() == "2" and (target / "keep.txt").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plate.0001"]


# ---------------------------------------------------------------- chunks through the CLI

def test_chunks_write_only_their_frames_and_equal_one_run_bytes(with_chain, tmp_path, capsys):
    pattern = plate_sequence(tmp_path / "plates", 6)
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "one")], capsys)
    assert code == 0, err
    for chunk in ("1-2", "3-4", "5-6"):
        code, err = run(["decompose", pattern, "--out", str(tmp_path / "chunks"),
                         "--frames", chunk], capsys)
        assert code == 0, err
        if chunk == "1-2":
            assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == \
                ["plate.0001", "plate.0002"]
    assert tree_bytes(tmp_path / "chunks") == tree_bytes(tmp_path / "one")
    # The same frames give the same bytes on a rerun; a rerun without --overwrite fails first.
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "chunks"), "--frames",
                     "3-4"], capsys)
    assert code == 4 and "plate.0003" in err
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "again"), "--frames",
                     "3-4", "--stabilise", "0.7"], capsys)
    first = tree_bytes(tmp_path / "again")
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "again"), "--frames",
                     "3-4", "--stabilise", "0.7", "--overwrite"], capsys)
    assert code == 0 and tree_bytes(tmp_path / "again") == first
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "x"), "--frames", "5-9"],
                    capsys)
    assert code == 2 and "no frames 7-9" in err and not (tmp_path / "x").exists()
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "x"), "--frames", "2-1"],
                    capsys)
    assert code == 2 and "bad frame range" in err


def _max_errors(a_dir: Path, b_dir: Path, frame: int) -> dict:
    a, b = Passes.load(a_dir / f"plate.{frame:04d}"), Passes.load(b_dir / f"plate.{frame:04d}")
    return {k: float(np.abs(getattr(a, k) - getattr(b, k)).max()) for k in PASSES}


def test_stabilised_chunks_match_one_run_with_warmup(with_chain, tmp_path, capsys):
    """24 frames stabilised at 0.7 in three chunks of 8 against one run.

    Each blend weighs the past by at most the strength, so a warm-up of N frames leaves at
    most strength**N of the history a chunk cannot see: the chunked frames must lie within
    0.7**N of the cold (no warm-up) error of the same frame, plus one half-float step.
    The default warm-up (13 frames at 0.7) reaches the first frame for the second chunk, so
    that chunk is exact; the third starts from frame 4 and is within 1 % of cold.
    """
    strength, n = 0.7, frames.default_warmup(0.7)
    pattern = plate_sequence(tmp_path / "plates", 24)
    common = [pattern, "--stabilise", str(strength), "--no-previews"]
    code, err = run(["decompose", *common, "--out", str(tmp_path / "one")], capsys)
    assert code == 0, err
    for name, extra in (("cold", ["--warmup", "0"]), ("warm", [])):
        for chunk in ("1-8", "9-16", "17-24"):
            code, err = run(["decompose", *common, "--out", str(tmp_path / name),
                             "--frames", chunk, *extra], capsys)
            assert code == 0, err
    report = {}
    for frame in (9, 10, 12, 17, 18, 20):
        cold = _max_errors(tmp_path / "one", tmp_path / "cold", frame)
        warm = _max_errors(tmp_path / "one", tmp_path / "warm", frame)
        report[frame] = (max(cold.values()), max(warm.values()))
        for key in PASSES:
            half_step = 2.0 ** -10 * max(1.0, float(np.abs(getattr(Passes.load(
                tmp_path / "one" / f"plate.{frame:04d}"), key)).max()))
            assert warm[key] <= strength ** n * cold[key] + half_step, (frame, key, cold, warm)
            if frame < 17:
                assert warm[key] == 0.0, (frame, key, warm)  # warm-up reached frame 1
    assert report[9][0] > 0.05 and report[17][0] > 0.05  # without warm-up: measurably off
    for frame in range(1, 9):  # the first chunk has nothing before it
        assert max(_max_errors(tmp_path / "one", tmp_path / "cold", frame).values()) == 0.0
    print("chunked vs one run, max |Δ| over passes (no warm-up, warm-up):", report)


def test_relight_and_export_a_chunk_of_a_pass_sequence(with_chain, tmp_path, capsys):
    pattern = plate_sequence(tmp_path / "plates", 4, size=32, start=1001)
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "passes"), "--no-previews"],
                    capsys)
    assert code == 0, err
    code, err = run(["relight", str(tmp_path / "passes"), "--frames", "1002-1003",
                     "--hdri", "city", "--no-shadows", "--out", str(tmp_path / "relit")],
                    capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "relit").iterdir()) == \
        ["plate.1002.png", "plate.1003.png"]
    one = tmp_path / "one.png"
    code, err = run(["relight", str(tmp_path / "passes" / "plate.1002"), "--hdri", "city",
                     "--no-shadows", "--out", str(one)], capsys)
    assert code == 0 and one.read_bytes() == (tmp_path / "relit" / "plate.1002.png").read_bytes()
    code, err = run(["export", str(tmp_path / "passes" / "plate.####"), "--frames", "1004",
                     "--hdri", "city", "--no-shadows",
                     "--out", str(tmp_path / "aov" / "shot.####.exr")], capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "aov").iterdir()] == ["shot.1004.exr"]
    code, err = run(["relight", str(tmp_path / "passes"), "--frames", "1003-1009",
                     "--hdri", "city", "--out", str(tmp_path / "relit")], capsys)
    assert code == 2 and "1005-1009" in err
    code, err = run(["relight", str(tmp_path / "passes"), "--frames", "1002", "--hdri", "city",
                     "--out", str(tmp_path / "relit")], capsys)
    assert code == 4 and "--overwrite" in err


# ---------------------------------------------------------------- checks before work, leftovers

def test_writable_folder_refuses_a_file_or_proc_and_leaves_nothing(tmp_path):
    assert frames.writable_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(tmp_path.iterdir()) == []            # the probe is gone, nothing was made
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="a_file is not a folder"):
        frames.writable_folder(tmp_path / "a_file" / "out")
    with pytest.raises(OutputError, match="takes no new files|not writable"):
        frames.writable_folder("/proc/relit_out")
    (tmp_path / "old.png").write_text("x")
    with pytest.raises(OutputError, match="old.png exists"):
        frames.check_outputs([tmp_path / "new.png", tmp_path / "old.png"], False)
    assert frames.check_outputs([tmp_path / "old.png"], True) == [tmp_path / "old.png"]
    with pytest.raises(OutputError, match="cannot write x.png to /proc"):
        frames.check_outputs(["/proc/x.png"], True)


def test_sweep_removes_only_stale_temporaries_of_relit(tmp_path):
    import os
    import time

    old = time.time() - 3600
    stale = [tmp_path / ".passes.ab12cd_9.tmp.exr", tmp_path / ".plate.0001.k2j4h6g8.tmp",
             tmp_path / ".relit-qwertyui"]
    stale[0].write_bytes(b"half an exr")
    for folder in stale[1:]:
        folder.mkdir()
        (folder / ".normal.zxcvbnm1.tmp.exr").write_bytes(b"x")
    fresh = tmp_path / ".plate.0002.a1b2c3d4.tmp"       # a writer at work right now
    fresh.mkdir()
    (fresh / "normal.exr").write_bytes(b"x")
    kept = [tmp_path / ".passes.exr", tmp_path / "notes.tmp", tmp_path / ".my.settings.tmp",
            tmp_path / "plate.0001"]
    kept[0].write_bytes(b"x"), kept[1].write_bytes(b"x"), kept[2].mkdir(), kept[3].mkdir()
    for path in [*stale, fresh, *kept]:
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.utime(p, (old, old))
    os.utime(fresh / "normal.exr")                     # touched now
    names = {"plate.0001", "plate.0002"}
    assert frames.sweep([tmp_path, tmp_path / "missing"], names=names) == sorted(stale)
    assert all(not p.exists() for p in stale) and fresh.exists()
    assert all(p.exists() for p in kept)
    assert frames.sweep([tmp_path], older_than_s=0, names=names) == [fresh]
    other = tmp_path / ".plate.0009.a1b2c3d4.tmp"      # not an output of this run: kept
    other.mkdir()
    assert frames.sweep([tmp_path], older_than_s=0, names=names) == [] and other.exists()
