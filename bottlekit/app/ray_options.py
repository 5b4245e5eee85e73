"""The command-line options of the distributed runs: ``--ray [ADDRESS]`` and its company."""

from __future__ import annotations

import argparse

__all__ = [
    "LOCAL_RAY",
    "SHARD_SIZE",
    "add_ray_arguments",
    "check_ray_address",
    "check_ray_only_options",
    "check_ray_options",
    "require_ray",
]

#: ``--ray`` without an address: start a local Ray instance.
LOCAL_RAY = "local"
#: ``--shard-size`` when not given: items per Parquet shard.
SHARD_SIZE = 512


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]``, ``--workers`` and ``--shard-size`` (the distributed options).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The command's parser.
    """
    p.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        default=None,
        metavar="ADDRESS",
        help='run on Ray (pip install "bottlekit[distributed]"): a cluster address '
        "(auto, host:6379, ray://host:10001), or none to start a local instance; "
        "--out is then a folder of Parquet shards",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --ray: encoder actors (default: one per GPU of the cluster, else one per "
        "CPU but one)",
    )
    p.add_argument(
        "--shard-size",
        type=int,
        default=SHARD_SIZE,
        help=f"with --ray: items per shard (default {SHARD_SIZE})",
    )


def check_ray_only_options(args: argparse.Namespace, *flags: str) -> None:
    """Refuse ``--workers``, ``--shard-size`` (and the extra ``flags``, e.g. ``"--bank"``)
    without ``--ray`` (they would be ignored; ``--shard-size`` is seen when it is not the
    default).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    *flags : str
        More options that need ``--ray``.
    """
    if getattr(args, "ray", None) is not None:
        return
    defaults = {"shard_size": SHARD_SIZE}
    for flag in ("--workers", "--shard-size", *flags):
        dest = flag.lstrip("-").replace("-", "_")
        if getattr(args, dest, None) not in (None, defaults.get(dest)):
            raise ValueError(f"{flag}: only applies with --ray")


def check_ray_address(args: argparse.Namespace) -> None:
    """Refuse ``--ray ""`` (an unset shell variable, ``--ray "$ADDRESS"``): Ray would start
    a local instance instead of joining the cluster.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Examples
    --------
    >>> check_ray_address(argparse.Namespace(ray=""))
    Traceback (most recent call last):
    ...
    ValueError: --ray: got an empty address; expected a cluster address (auto, ...
    """
    if getattr(args, "ray", None) == "":
        raise ValueError(
            "--ray: got an empty address; expected a cluster address (auto, host:6379, "
            "ray://host:10001), or --ray alone to start a local instance"
        )


def check_ray_options(args: argparse.Namespace, out: str) -> None:
    """Check the ``--ray`` address (not empty), ``--workers``, ``--shard-size`` and the
    output folder ``out`` of a ``--ray`` run by their flags, before Ray, the model or the
    images are touched (the run itself would name them ``num_workers`` and
    ``shard_size``, start a local instance for an empty address, or fail making the
    folder).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    out : str
        The output folder.

    Examples
    --------
    >>> check_ray_options(argparse.Namespace(workers=0, shard_size=512), "out")
    Traceback (most recent call last):
    ...
    ValueError: --workers: expected an int >= 1, got 0
    """
    from bottlekit._checks import check_number
    from bottlekit.app._paths import check_output_path

    check_ray_address(args)
    if args.workers is not None:
        check_number(args.workers, "--workers", integer=True, low=1)
    check_number(args.shard_size, "--shard-size", integer=True, low=1)
    check_output_path(out, "--out", is_dir=True)


def require_ray(option: str = "--ray") -> None:
    """Check that Ray Data is installed; a clear error saying what to install if not.

    Looks the modules up without importing them (importing Ray takes seconds; the run
    that follows does it).

    Parameters
    ----------
    option : str, default "--ray"
        The option that asked for Ray, named in the error.

    Raises
    ------
    ValueError
        When ``ray`` or ``pyarrow`` (which Ray Data and the shards need) is missing: the
        ``[distributed]`` extra is not installed. The command line prints it as one line,
        with exit status 2.

    Examples
    --------
    >>> import importlib.util
    >>> installed = all(importlib.util.find_spec(m) for m in ("ray", "pyarrow"))
    >>> try:
    ...     require_ray()
    ...     found = True
    ... except ValueError:
    ...     found = False
    >>> found == installed
    True
    """
    import importlib.util

    missing = []
    for module in ("ray", "pyarrow"):
        try:
            if importlib.util.find_spec(module) is None:
                missing.append(module)
        except (ImportError, ValueError):
            missing.append(module)
    if missing:
        raise ValueError(
            f"{option}: needs Ray Data, and {', '.join(repr(m) for m in missing)} "
            'is not installed here; install it with pip install "bottlekit[distributed]"'
        )
