"""Torch-free foundations: configuration, errors, the checkpoint format reader, audio I/O, vocabularies and
the one scoring stack on numpy arrays."""
