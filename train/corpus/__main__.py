"""`python -m muser_train.corpus`: `muser-train corpus build`, the whole training corpus."""
from muser_model.core.errors import run_main
from muser_train.corpus.build import main

run_main(main)
