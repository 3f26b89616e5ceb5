"""Bad input through ``python -m inference``: every case of ``bad_inputs.CASES``, and a fuzz of
mutated PNG and JPEG files (fixed seed) in one process, which must neither crash nor hang."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bad_inputs
from inference import cli, images, models

ROOT = Path(__file__).resolve().parents[2]
FUZZ_FILES = 40
FUZZ_SEED = 20261206


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return bad_inputs.write_files(tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("case", [c for c in bad_inputs.CASES if c.cli], ids=lambda c: c.name)
def test_the_cli_answers_each_bad_input(case, files, chain_dir, tmp_path, capfd, monkeypatch):
    """In-process, with stderr read at the file descriptor, so a native library's own line
    (libpng's, MediaPipe's) would show."""
    monkeypatch.setenv("RELIT_MODELS", str(bad_inputs.models_folder(case.models, chain_dir,
                                                                    files)))
    models._default = None
    out = tmp_path / "out"
    bad_inputs.prepare(case, files, out)
    before = {p: p.stat().st_mtime_ns for p in files.rglob("*") if p.is_file()}
    try:
        code = cli.main(["--quiet", *case.format(files, out)])
    finally:
        models._default = None
    bad_inputs.check(case, code, capfd.readouterr().err, files, out)
    after = {p: p.stat().st_mtime_ns for p in before if p.exists()}
    assert after == before  # no input is touched, whatever happens


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One of the ways files go bad: flipped bytes, a cut, a hole, junk inserted, a chunk
    repeated, or a header from elsewhere."""
    b = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:
        for i in rng.integers(0, len(b), rng.integers(1, 40)):
            b[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        b = b[: int(rng.integers(1, len(b)))]
    elif kind == 2:
        start = int(rng.integers(0, len(b)))
        b[start: start + int(rng.integers(1, 400))] = b""
    elif kind == 3:
        at = int(rng.integers(0, len(b)))
        b[at:at] = rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
    elif kind == 4:
        start = int(rng.integers(0, len(b) // 2))
        b[start:start] = b[start: start + int(rng.integers(1, 500))]
    else:
        b[: 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        b[:8] = data[:8]   # keeps the magic number, so the decoder is the one that must cope
    return bytes(b)


def test_fuzzed_files_neither_crash_nor_hang(tmp_path):
    rng = np.random.default_rng(FUZZ_SEED)
    face = bad_inputs.portrait(64)
    images.save_png(tmp_path / "seed.png", face)
    images.save_jpeg(tmp_path / "seed.jpg", face)
    seeds = {ext: (tmp_path / f"seed{ext}").read_bytes() for ext in (".png", ".jpg")}
    fuzz = tmp_path / "fuzz"
    fuzz.mkdir()
    paths = []
    for i in range(FUZZ_FILES):
        ext = (".png", ".jpg")[i % 2]
        path = fuzz / f"f{i:02d}{ext}"
        path.write_bytes(_mutate(seeds[ext], rng))
        paths.append(path)
    out = tmp_path / "out"
    env = {**os.environ, "RELIT_MODELS": str(ROOT / "models")}   # the shipped models
    run = subprocess.run([sys.executable, "-m", "inference", "--quiet", "decompose", *map(
        str, paths), "--out", str(out), "--on-error", "skip", "--no-previews"], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=300)
    err = run.stderr
    assert run.returncode in (0, 1), err  # not killed by a signal, no other failure
    assert "Traceback" not in err
    failed = {m.group(1) for m in re.finditer(r"^relit: error: (\S+): .* \(skipped\)$", err,
                                              re.M)}
    for path in paths:
        written = (out / path.stem / "passes.exr").is_file()
        assert written != (str(path) in failed), (path.name, err)
    lines = [line for line in err.splitlines() if line.strip()]
    stray = [line for line in lines if not line.startswith(("relit: error:", "relit: warning:",
                                                            "relit: "))]
    assert stray == [], stray
    summary = f"relit: {len(failed)} of {FUZZ_FILES} inputs failed"
    assert (summary in err) == bool(failed) and (run.returncode == 1) == bool(failed)
    assert 0 < len(failed) < FUZZ_FILES   # the fuzz reaches both outcomes


def test_the_turn_a_face_was_found_at_is_kept_with_the_passes(files, with_chain, tmp_path):
    out = tmp_path / "o"
    assert cli.main(["--quiet", "decompose", str(files / "upside_down.png"),
                     str(files / "face.png"), "--out", str(out)]) == 0
    meta = {name: json.loads((out / name / "lighting.json").read_text())["meta"]
            for name in ("upside_down", "face")}
    assert meta["upside_down"]["face_turn"] == 180 and meta["face"]["face_turn"] == 0
