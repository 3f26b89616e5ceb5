"""The measurements behind the model card, and the card's writer; ``python -m training.evaluate``
is their command line.

- ``keys``: the table of metric keys (JSON key, the card's name, unit, format).
- ``synthetic``: held-out factory samples (checkpoints, the chain end to end).
- ``yale``: Extended Yale B (photometric stereo, the face-mesh prior, NormalNet, Face Mesh).
- ``flicker``: temporal stability on a factory turntable.
- ``report``: every number of the model card in one result.
- ``model_card``: the model card's evaluation blocks, written from those results.
"""
