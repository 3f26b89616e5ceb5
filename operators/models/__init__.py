"""Operators of the Models panel."""
from .check_models import RELIT_OT_check_models

classes = (RELIT_OT_check_models,)
