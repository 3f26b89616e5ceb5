"""Relit's operators, settings and the ``blender --command relit`` batch entry point."""
import bpy

from . import batch, farm, jobs, relight_ops, settings, status

_classes = (*settings.classes, *status.classes, *relight_ops.classes, *farm.classes)
_cli_handle = None


def register():
    global _cli_handle
    for cls in _classes:
        bpy.utils.register_class(cls)
    settings.attach()
    jobs.register_handlers()
    _cli_handle = bpy.utils.register_cli_command("relit", batch.run)


def unregister():
    global _cli_handle
    jobs.unregister_handlers()
    jobs.shutdown()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    settings.detach()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
