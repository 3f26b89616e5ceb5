"""Operators of the Source panel: an image decomposed, or captures measured."""
from .decompose import RELIT_OT_decompose
from .photometric import RELIT_OT_photometric

classes = (RELIT_OT_decompose, RELIT_OT_photometric)
