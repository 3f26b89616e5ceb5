"""Bad input through ``make batch`` (``blender --command relit`` with Blender as a module): the
cases of ``bad_inputs.CASES``, an image's decompose as the batch's own Cycles relight of it,
each in a fresh process, as a pipeline runs it. The process is the one ``make batch`` starts
(``.venv/bin/python tools/batch.py ARGS``), run without make, whose own exit status is 2 for
any failure of its recipe."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bad_inputs

ROOT = Path(__file__).resolve().parents[2]
CASES = [c for c in map(bad_inputs.as_batch, bad_inputs.CASES) if c is not None]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return bad_inputs.write_files(tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_make_batch_answers_each_bad_input(case, files, chain_dir, tmp_path):
    out = tmp_path / "out"
    bad_inputs.prepare(case, files, out)
    env = {**os.environ, "RELIT_MODELS": str(bad_inputs.models_folder(case.models, chain_dir,
                                                                      files))}
    run = subprocess.run([sys.executable, "tools/batch.py", "--quiet", *case.format(files, out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    bad_inputs.check(case, run.returncode, run.stderr, files, out)
