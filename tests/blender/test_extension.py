"""The built zip installs, enables, registers its UI and CLI command, and unregisters cleanly."""
import sys

import pytest

pytestmark = pytest.mark.blender


def _relit_types():
    import bpy

    return sorted(name for name in dir(bpy.types) if name.startswith("RELIT_"))


def test_install_enable_and_register(relit):
    import bpy

    assert {"RELIT_PT_main", "RELIT_PT_image_editor", "RELIT_PT_compositor",
            "RELIT_OT_check_models", "RELIT_OT_restore_world"} <= set(_relit_types())
    assert hasattr(bpy.context.scene, "relit")
    assert bpy.context.scene.relit.output_dir == "//relit/"
    # The inference package loads inside Blender from the installed copy.
    mod = sys.modules[relit + ".inference.models"]
    assert "extensions" in mod.__file__ or "relit-repo" in mod.__file__


def test_check_models_operator_reports(relit, tmp_path):
    import bpy

    assert bpy.ops.relit.check_models() == {"FINISHED"}
    api = sys.modules[relit + ".operators.api"]
    rows = api.model_status(bpy.context.scene.relit)  # what the Models panel lists
    assert rows and all(len(row) == 3 for row in rows)
    (tmp_path / "manifest.json").write_text("{ not json")
    bpy.context.scene.relit.models_dir = str(tmp_path)
    try:
        with pytest.raises(RuntimeError) as err:
            bpy.ops.relit.check_models()
        assert "cannot read model manifest" in str(err.value)
        assert "Traceback" not in str(err.value)
    finally:
        bpy.context.scene.relit.models_dir = ""


def test_disable_leaves_nothing_registered(relit):
    import bpy

    bpy.ops.preferences.addon_disable(module=relit)
    try:
        assert relit not in bpy.context.preferences.addons
        assert _relit_types() == []
        assert not hasattr(bpy.types.Scene, "relit")
        assert not [h for h in bpy.app.handlers.load_pre if h.__module__.startswith(relit)]
    finally:
        bpy.ops.preferences.addon_enable(module=relit)
    assert "RELIT_PT_main" in _relit_types()


class _Panel:
    def __init__(self, layout):
        self.layout = layout


class _Layout:
    """Stands in for a panel's UILayout headless: records labels, checks icon names, accepts
    everything else."""

    def __init__(self, labels):
        import bpy

        self.labels = labels
        self.icons = {i.identifier for i in bpy.types.UILayout.bl_rna.functions["label"]
                      .parameters["icon"].enum_items}

    def label(self, text="", icon="NONE", **_):
        assert icon in self.icons, icon
        self.labels.append(text)

    def __getattr__(self, name):
        def call(*args, icon="NONE", **kwargs):
            assert icon in self.icons, icon
            return self
        return call


def test_every_panel_draws(relit):
    """Each panel's draw runs (headless Blender draws no UI): the Models panel lists each
    model's state, and a job's notice shows under its button."""
    import importlib

    import bpy

    sidebar = importlib.import_module(relit + ".panels.sidebar")
    jobs = importlib.import_module(relit + ".operators.jobs")
    jobs.notify("decompose", "WARNING", "Decompose: no face found", popup=False)
    labels = []
    try:
        for cls in sidebar.classes:
            cls.draw(_Panel(_Layout(labels)), bpy.context)
    finally:
        jobs.clear_notice("decompose")
    assert "Decompose: no face found" in labels
    api = sys.modules[relit + ".operators.api"]
    assert all(f"{name} {version}" in labels
               for name, version, _ in api.model_status(bpy.context.scene.relit))

