"""The Ray cluster of a run: joining or starting it, sharing out its resources, and the
name (``host:pid``) by which each worker is told apart in the summary.

Ray is imported inside the functions only: importing this module imports no Ray.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local instance; True when started here."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return False
    import bottlekit

    # workers import the same bottlekit as this process (an editable or source checkout)
    root = str(Path(bottlekit.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
    )
    return True


def _smallest_node_cpus(default: float) -> int:
    """The CPUs of the cluster's smallest live node."""
    import ray

    counts = [
        node.get("Resources", {}).get("CPU", 0)
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
    ]
    return int(min(counts)) if counts else int(default)


def _resources(device: str | None, num_workers: int | None) -> dict[str, Any]:
    """Actor pool size and the resources of each actor and of each decode task."""
    import ray

    total = ray.cluster_resources()
    gpus, cpus = int(total.get("GPU", 0)), float(total.get("CPU", 1))
    if device is not None and str(device).startswith("cuda") and gpus == 0:
        raise ValueError(f"device: {device!r} requested but the Ray cluster has no GPUs")
    use_gpu = gpus > 0 and (device is None or str(device).startswith("cuda"))
    if use_gpu:
        if num_workers is not None and num_workers > gpus:
            # an actor holds one GPU: the pool waited forever for the ones that do not exist
            raise ValueError(
                f"num_workers: {num_workers} encoder actors of one GPU each, but the Ray "
                f"cluster has {gpus} GPU(s); expected at most {gpus}"
            )
        workers = num_workers or gpus
        return {
            "workers": workers,
            "actor": {"num_gpus": 1, "num_cpus": 1},
            "decode_cpus": 1.0,
            "device": "cuda",
            "threads": 1,
        }
    workers = num_workers or max(1, int(cpus) - 1)
    # leave half a CPU for the decode tasks, or Ray Data would wait for CPUs forever
    actor_cpus = min(1.0, max(0.01, (cpus - 0.5) / workers))
    return {
        "workers": workers,
        "actor": {"num_cpus": actor_cpus},
        "decode_cpus": 0.5,
        "device": device or "cpu",
        # the cores shared out among the encoders (at most one node's), as bottlekit.embed
        # uses all of them for its forward passes while its DataLoader workers decode
        "threads": max(1, min(int(cpus // workers), _smallest_node_cpus(cpus))),
    }
