"""The central scheduler (luigid) for this pipeline, with its state kept beside the data.

``python -m fitsense_luigi.scheduler`` (what ``make scheduler`` and the image
run) starts luigid in the foreground on 127.0.0.1:8082 with its state file at
``<data root>/scheduler/luigi-state.pickle``, so that task history survives a
restart (luigid saves it on SIGTERM) and lives where the runs live. An
``s3://`` data root cannot hold a pickle that luigid rewrites in place, so the
state then goes to ``$XDG_STATE_HOME/fitsense`` (``~/.local/state/fitsense``).
Every luigid option can still be given; ours only fill in the defaults.
luigid reads ``[scheduler]`` (retries) from ``luigi.cfg`` in the working
directory, like the workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from fitsense_luigi.config import DATA_ROOT_ENV, load_config
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.pipeline.roots import open_data_root


def resolve_data_root() -> DataRoot:
    return open_data_root(os.environ.get(DATA_ROOT_ENV) or load_config().run.data_root)


def luigid_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    local = Path(sys.executable).with_name("luigid")
    luigid = str(local) if local.exists() else shutil.which("luigid") or "luigid"
    command = [luigid, "--address", args.address, "--port", str(args.port), "--state-path", str(args.state_path)]
    if args.logdir:
        command += ["--logdir", str(args.logdir)]
    return command + extra


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m fitsense_luigi.scheduler",
        description="Run luigid for fitsense-luigi (foreground; state file under the data root).",
    )
    parser.add_argument("--address", default="127.0.0.1", help="listen address (0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument(
        "--state-path", type=Path, default=None, help="default: <data root>/scheduler/luigi-state.pickle"
    )
    parser.add_argument("--logdir", type=Path, default=None, help="write luigid's log there instead of stderr")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    try:
        if args.state_path is None:
            args.state_path = resolve_data_root().scheduler_state_path()
        args.state_path.parent.mkdir(parents=True, exist_ok=True)
    except (FitSenseError, OSError) as exc:
        print(f"fitsense scheduler: {exc}", file=sys.stderr)
        return 2
    command = luigid_command(args, extra)
    print(f"fitsense scheduler: {' '.join(command)}", file=sys.stderr, flush=True)
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
