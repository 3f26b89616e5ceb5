"""Packaging facts that a build would only reveal late: wheel pins and zip exclusions."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_wheels_match_bundle_pins():
    """Every bundled wheel is pinned in requirements/bundle.txt, for every platform."""
    pins = {}
    for line in (ROOT / "requirements/bundle.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("-", "_")] = version
    manifest = (ROOT / "blender_manifest.toml").read_text()
    wheels = [w.split("/")[-1] for w in manifest.split('"') if w.endswith(".whl")]
    seen = {}
    for wheel in wheels:
        name, version = wheel.split("-")[:2]
        key = name.lower()
        assert pins.get(key) == version, f"{wheel} is not the pinned version"
        seen.setdefault(key, set()).add(wheel)
    assert set(seen) == set(pins), set(pins) ^ set(seen)


def test_manifest_fields():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "relit" and manifest["schema_version"] == "1.0.0"
    assert manifest["blender_version_min"] == "5.0.0"  # the compositor uses 5.0 API
    assert "files" in manifest["permissions"]
    excluded = manifest["build"]["paths_exclude_pattern"]
    for folder in ("/training/", "/bench/", "/tests/"):
        assert folder in excluded


def test_inference_never_imports_bpy():
    for path in (ROOT / "inference").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("import bpy", "from bpy")), f"{path}: {line}"
