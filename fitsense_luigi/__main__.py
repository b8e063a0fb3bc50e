"""``python -m fitsense_luigi TASK [luigi options]``: see :mod:`fitsense_luigi.pipeline.launcher`."""

import sys

from fitsense_luigi.pipeline.launcher import main

if __name__ == "__main__":
    sys.exit(main())
