"""Blender tests: bpy as a module, with Relit installed from its built zip into a temporary
user folder and enabled, as a user would."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Blender reads its user folders once, at import: point them at a throwaway place first.
_USER = tempfile.mkdtemp(prefix="relit-blender-user-")
os.environ.setdefault("BLENDER_USER_RESOURCES", _USER)

ROOT = Path(__file__).resolve().parents[2]
REPO_MODULE = "relit_test_repo"


def extension_zip() -> Path:
    env = os.environ.get("RELIT_EXTENSION_ZIP")
    if env:
        return Path(env)
    version = next(line.split('"')[1] for line in (ROOT / "blender_manifest.toml").read_text()
                   .splitlines() if line.startswith("version"))
    return ROOT / "dist" / f"relit-{version}.zip"


def built_zip() -> Path:
    """``extension_zip()``, failing the test where it has not been built."""
    zip_path = extension_zip()
    if not zip_path.exists():
        pytest.fail(f"{zip_path} is missing: build it with `make extension` (make test does)")
    return zip_path


@pytest.fixture
def extension_zip_file() -> Path:
    """The built zip under test (``$RELIT_EXTENSION_ZIP``, else dist/relit-<version>.zip)."""
    return built_zip()


def addon_module() -> str:
    return f"bl_ext.{REPO_MODULE}.relit"


def install_extension():
    """Install and enable the built zip in a temporary repository; returns the module name."""
    import bpy

    zip_path = built_zip()
    prefs = bpy.context.preferences
    if addon_module() in prefs.addons:
        return addon_module()
    repo = next((r for r in prefs.extensions.repos if r.module == REPO_MODULE), None)
    if repo is None:
        repo_dir = tempfile.mkdtemp(prefix="relit-repo-")
        repo = prefs.extensions.repos.new(name="Relit test", module=REPO_MODULE,
                                          custom_directory=repo_dir, source="USER")
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo=repo.module, enable_on_install=True)
    assert result == {"FINISHED"}, result
    assert addon_module() in prefs.addons, "extension installed but not enabled"
    return addon_module()


@pytest.fixture
def relit():
    """The enabled extension's module name (installed once per session)."""
    return install_extension()


@pytest.fixture(autouse=True, scope="module")
def factory_scene():
    """Each test module starts in Blender's factory startup file, whatever the modules before it
    left in ``bpy.data`` (a batch run's lights, say); the preferences, and with them the
    installed extension, stay as they are. About 15 ms a module."""
    import bpy

    assert bpy.ops.wm.read_homefile(use_factory_startup=True) == {"FINISHED"}


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER, ignore_errors=True)
