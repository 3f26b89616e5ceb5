"""``make batch ARGS="…"``: run ``blender --command relit …`` with Blender as a Python module.

Loads this source tree as the add-on package ``relit``, registers it as Blender would, and calls
the same batch entry point that ``blender --background --command relit`` calls.
"""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_extension():
    spec = importlib.util.spec_from_file_location(
        "relit", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["relit"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    import bpy  # noqa: F401 - Blender first, as inside Blender

    relit = load_extension()
    relit.register()
    try:
        from relit.app import command

        return command.run(argv, prog="make batch ARGS=")
    finally:
        relit.unregister()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
