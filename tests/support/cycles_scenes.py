"""A small, deterministic Cycles scene for the Blender tests that render and read pixels."""


def cycles_scene(name: str, size: tuple[int, int], samples: int = 16, denoise: bool = False):
    """A new scene rendering ``size`` pixels on the CPU at ``samples`` (fixed seed, no
    adaptive sampling, direct light only, a box filter of almost nothing), with a transparent
    film, the Standard view and 32-bit RGBA EXR output."""
    import bpy

    scene = bpy.data.scenes.new(name)
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.samples = samples
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = denoise
    cycles.max_bounces = 0
    cycles.filter_width = 0.01
    cycles.seed = 1
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR"
    settings.color_mode = "RGBA"
    settings.color_depth = "32"
    return scene
