"""The torch side: the MUSER model and text tower, the torch inference engine, runtime settings, the loss
and the checkpoint exporter. The only sub-package that imports torch."""

from muser_model.core.hardware import require_torch

# Every torch-only path checks for torch where it knows why it needs it; this names the rest.
require_torch("the torch engine")
