"""Synthetic data factory: photoreal ICT-FaceKit heads rendered in Cycles with exact ground truth
for every pass Relit's networks learn (see README.md).

Modules: ``params`` (every random choice, pure numpy), ``ict`` (head model), ``textures``,
``hair``, ``body``, ``colour``, ``lights`` (SH and light units) build the sample without
Blender; ``scene`` and ``sample`` render it with bpy; ``output``, ``worker`` and ``cli`` run
the dataset; ``probe`` checks realism with MediaPipe.
"""
