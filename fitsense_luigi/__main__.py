"""``python -m fitsense_luigi TASK [luigi options]``: see :mod:`fitsense_luigi.pipeline.launcher`;
``python -m fitsense_luigi prune ...``: see :mod:`fitsense_luigi.pipeline.retention`."""

import sys

PROGRAM = "python -m fitsense_luigi"  # how the help names the command (argparse would say "__main__.py")

if __name__ == "__main__":
    sys.argv[0] = PROGRAM
    if sys.argv[1:2] == ["prune"]:
        from fitsense_luigi.pipeline.retention import main as prune

        sys.exit(prune(sys.argv[2:], prog=f"{PROGRAM} prune"))
    from fitsense_luigi.pipeline.launcher import main

    sys.exit(main())
