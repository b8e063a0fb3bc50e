"""``python -m fitsense_luigi.scheduler``: luigid for this pipeline; see :mod:`fitsense_luigi.pipeline.scheduler`."""

import sys

from fitsense_luigi.pipeline.scheduler import main

if __name__ == "__main__":
    sys.exit(main())
