"""Operators of the Refine panel."""
from .refine import RELIT_OT_refine

classes = (RELIT_OT_refine,)
