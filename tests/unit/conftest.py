"""Fixtures shared by the unit tests."""
import pytest


@pytest.fixture
def with_chain(chain_dir, monkeypatch):
    from inference import models

    monkeypatch.setenv("RELIT_MODELS", str(chain_dir))
    models._default = None
    yield chain_dir
    models._default = None
