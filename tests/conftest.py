"""Fixtures shared by every test folder."""
import pytest

from onnx_graphs import install_chain


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory):
    """A models folder with wiring stand-ins for the whole chain (see onnx_graphs)."""
    path = tmp_path_factory.mktemp("chain")
    install_chain(path)
    return path
