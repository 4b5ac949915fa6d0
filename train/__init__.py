"""muser_train: corpus builders, teachers, the trainer and evaluation for MUSER.

The folder is `train/` at the top of the repository; it installs and imports as `muser_train`
(a top-level package named `train` would collide with other projects in site-packages).

- `muser_train.corpus`: the offline training corpus (`python -m muser_train.corpus`).
- `muser_train.training`: dataset readers, the trainer and what it uses.
- `muser_train.evaluation`: metrics, `muser eval`, held-out reports and the data card.
"""
