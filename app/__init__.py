"""Relit's application API: every step an artist or a script runs, with explicit scene and
settings (no ``context.area``), so the operators, the batch command and tests call it directly.

Flow: source image → ``inference`` (passes, on a worker thread via ``jobs``) → ``passes``
(Blender images, the plate plane and material via ``datablocks``) → ``lighting`` → render →
``refine`` / ``compositing``. The pass images are the passes: every later step (rebuild, match
lighting, refine, export, compositor) reads them back, so an image painted, reloaded or undone
is what it uses.

Modules
-------
- ``settings``: the ``scene.relit`` settings, the models registry and the output folders.
- ``sources``: images, files, captures and pass folders to start from; the decomposition job.
- ``passes``: passes ↔ Blender images and the plate built from them.
- ``lighting``: light rigs, HDRI worlds, the source lighting matched from the estimate.
- ``refine``: the last render read back, RenderNet on it, the refined image.
- ``batch``: the batch scene, a source staged on the batch plate, its Cycles render.
- ``compositing``: the Relit compositor and AOV export.
- ``command``: ``blender --command relit``.
- ``jobs``: the job runner (worker thread, results back on the main thread).
"""
import bpy

from . import command, jobs, settings

_cli_handle = None


def register():
    global _cli_handle
    for cls in settings.classes:
        bpy.utils.register_class(cls)
    settings.attach()
    jobs.register_handlers()
    _cli_handle = bpy.utils.register_cli_command("relit", command.run)


def unregister():
    global _cli_handle
    jobs.unregister_handlers()
    jobs.shutdown()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    settings.detach()
    for cls in reversed(settings.classes):
        bpy.utils.unregister_class(cls)
