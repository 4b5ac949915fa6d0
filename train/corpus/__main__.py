"""`python -m muser_train.corpus`: build the whole training corpus (see `build`)."""
import sys

from muser_train.corpus.build import main

sys.exit(main())
