"""The built zip installs, enables, registers its UI and CLI command, and unregisters cleanly."""
import sys

import pytest

pytestmark = pytest.mark.blender


def _relit_types():
    import bpy

    return sorted(name for name in dir(bpy.types) if name.startswith("RELIT_"))


def test_install_enable_and_register(relit):
    import bpy

    assert "RELIT_PT_main" in _relit_types()
    assert "RELIT_OT_check_models" in _relit_types()
    assert hasattr(bpy.context.scene, "relit")
    assert bpy.context.scene.relit.output_dir == "//relit/"
    # The inference package loads inside Blender from the installed copy.
    mod = sys.modules[relit + ".inference.models"]
    assert "extensions" in mod.__file__ or "relit-repo" in mod.__file__


def test_check_models_operator_reports(relit):
    import bpy

    assert bpy.ops.relit.check_models() == {"FINISHED"}


def test_disable_leaves_nothing_registered(relit):
    import bpy

    bpy.ops.preferences.addon_disable(module=relit)
    try:
        assert relit not in bpy.context.preferences.addons
        assert _relit_types() == []
        assert not hasattr(bpy.types.Scene, "relit")
    finally:
        bpy.ops.preferences.addon_enable(module=relit)
    assert "RELIT_PT_main" in _relit_types()
