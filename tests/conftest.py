"""Fixtures shared by every test folder."""
import os

import pytest

from inference.datafiles import blender_studio_lights
from inference.lighting import STUDIOLIGHTS_ENV

from onnx_graphs import install_chain

# Library calls that name a built-in HDRI find Blender's studio lights as a user outside Blender
# points them there: through RELIT_STUDIOLIGHTS (the bpy module's copy).
os.environ.setdefault(STUDIOLIGHTS_ENV, os.pathsep.join(map(str, blender_studio_lights())))


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory):
    """A models folder with wiring stand-ins for the whole chain (see onnx_graphs)."""
    path = tmp_path_factory.mktemp("chain")
    install_chain(path)
    return path
