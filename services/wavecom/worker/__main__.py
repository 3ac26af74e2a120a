"""``python -m wavecom.worker --channel email``: a channel worker
(:mod:`wavecom.worker.channels`)."""

import sys

from wavecom.worker.channels import main

if __name__ == "__main__":
    # argparse names the program after argv[0]: the command, not this file's name (__main__.py)
    sys.argv[0] = "python -m wavecom.worker"
    main()
