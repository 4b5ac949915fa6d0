"""The numpy inference engine: audio.NumpyMuser (both audio towers) and text (the MiniLM text tower), CPU fp32,
no torch."""
