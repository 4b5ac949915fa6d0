"""muser_model: the MUSER model, audio decoding, inference and (later) the library index."""

__version__ = "0.1.0"
