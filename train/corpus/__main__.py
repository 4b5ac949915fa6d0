"""`python -m muser_train.corpus`: `muser-train corpus build`, the whole training corpus."""
from muser_cli.train_tools import run

run("muser_train.corpus.build")
