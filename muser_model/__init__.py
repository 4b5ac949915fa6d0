"""muser_model: the MUSER model library, in layers (declared in `.importlinter`), from the bottom:

core/ (torch-free foundations: config, errors, the checkpoint format, audio I/O, the scoring stack)
< numpy_engine/ and torch_engine/ (the two engines implementing core.scoring.Engine, independent of
each other; only torch_engine imports torch) < engine_choice (which engine for a request)
< library/ (catalogue, scan, index, queries, the decoder pool) < tagging and describe (services).
"""

__version__ = "0.1.0"
