"""The four musicnn taggers (Pons & Serra 2019) ported to torch, and their ensembles.

One module per architecture family: `musicnn` (MTT_musicnn, MSD_musicnn), `vgg` (MTT_vgg,
MSD_vgg); `features` computes their common input (3 s patches of 96-band log-mel at 16 kHz);
`registry` names the four checkpoints and loads them; `ensemble` averages the two models of a
vocabulary (MTT-50, MSD-50); `convert` turns the TF1 checkpoints of the `musicnn` wheel into the
.npz files of train/teacher/ (tensorflow is needed there and for the parity test only).

Importing this package imports neither torch nor numpy (the converter runs in a TF-only venv).
"""
