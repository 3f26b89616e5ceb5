"""Fixtures shared by the training tests."""
import json
from pathlib import Path

import numpy as np
import pytest

from inference.demo import bust
from training import data


@pytest.fixture
def bust_samples(tmp_path, monkeypatch):
    """``bust_samples(name, arrays)``: a factory-like folder ``tmp_path/name`` of four 64² bust
    samples in one shard, sample i holding ``arrays(bust(64, seed=i), i)``; the training cache
    moves into ``tmp_path``."""
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")

    def make(name: str, arrays) -> Path:
        folder = tmp_path / name / "shard_00000"
        folder.mkdir(parents=True)
        for i in range(4):
            np.savez(folder / f"{i:07d}.npz", **arrays(bust(64, seed=i), i))
        return tmp_path / name

    return make


@pytest.fixture
def shards(bust_samples):
    """Bust samples with the keys NormalNet trains on."""
    return bust_samples("synth", lambda gt, i: dict(
        rgb=(gt["albedo"] * 0.6).astype(np.float16), normal=gt["normal"].astype(np.float16),
        alpha=gt["alpha"].astype(np.float16), albedo=gt["albedo"].astype(np.float16),
        meta=json.dumps({"seed": i})))
