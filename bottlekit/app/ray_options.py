"""The command-line options of the distributed runs: ``--ray [ADDRESS]`` and its company."""

from __future__ import annotations

import argparse

__all__ = ["LOCAL_RAY", "add_ray_arguments"]

#: ``--ray`` without an address: start a local Ray instance.
LOCAL_RAY = "local"


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]``, ``--workers`` and ``--shard-size`` (the distributed options)."""
    p.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        metavar="ADDRESS",
        help="run on Ray (pip install 'bottlekit[distributed]'): a cluster address "
        "(auto, host:6379, ray://host:10001), or none to start a local instance; "
        "--out is then a folder of Parquet shards",
    )
    p.add_argument("--workers", type=int, default=None, help="with --ray: encoder actors")
    p.add_argument("--shard-size", type=int, default=512, help="with --ray: items per shard")
