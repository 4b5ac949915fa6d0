"""Training: dataset readers, the trainer, augmentation, caches, distributed helpers, heads,
distillation."""
