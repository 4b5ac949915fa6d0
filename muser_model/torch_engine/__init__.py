"""The torch side: the MUSER model and text tower, the torch inference engine, runtime settings, the loss
and the checkpoint exporter. The only sub-package that imports torch."""
