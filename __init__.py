"""Relit: decompose a photo into PBR passes and relight it in Blender.

This file only registers and unregisters. The submodules are imported inside ``register()`` so
that importing the package (for example by a test runner walking the tree) has no side effects.
"""


def register():
    from . import app, operators, panels

    app.register()
    operators.register()
    panels.register()


def unregister():
    from . import app, operators, panels

    panels.unregister()
    operators.unregister()
    app.unregister()
