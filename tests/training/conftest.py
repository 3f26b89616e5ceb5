"""Fixtures shared by the training tests."""
import json

import numpy as np
import pytest

from inference.demo import bust
from training import data


@pytest.fixture
def shards(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    folder = tmp_path / "synth" / "shard_00000"
    folder.mkdir(parents=True)
    for i in range(4):
        gt = bust(64, seed=i)
        np.savez(folder / f"{i:07d}.npz", rgb=(gt["albedo"] * 0.6).astype(np.float16),
                 normal=gt["normal"].astype(np.float16), alpha=gt["alpha"].astype(np.float16),
                 albedo=gt["albedo"].astype(np.float16), meta=json.dumps({"seed": i}))
    return tmp_path / "synth"
