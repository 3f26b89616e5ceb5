"""Operators of the Lighting panel: light rigs, HDRI worlds, matched source lighting."""
from .add_light_rig import RELIT_OT_add_light_rig
from .match_lighting import RELIT_OT_match_lighting
from .restore_world import RELIT_OT_restore_world
from .set_hdri import RELIT_OT_set_hdri

classes = (RELIT_OT_add_light_rig, RELIT_OT_set_hdri, RELIT_OT_restore_world,
           RELIT_OT_match_lighting)
