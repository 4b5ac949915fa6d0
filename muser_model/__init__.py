"""muser_model: the MUSER model library, in layers.

core/ (torch-free foundations: config, errors, the checkpoint format, audio I/O, the scoring stack)
< numpy_engine/ and torch_engine/ (the two engines implementing core.scoring.Engine; only
torch_engine imports torch) < engine_choice, tagging, describe (services picking and using an
engine) and library/ (catalogue, scan, index, queries).
"""

__version__ = "0.1.0"
