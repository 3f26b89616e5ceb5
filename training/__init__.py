"""Relit training code: the synthetic data factory, training, ONNX export and evaluation.

Left out of the extension zip; never imported by the add-on.
"""
