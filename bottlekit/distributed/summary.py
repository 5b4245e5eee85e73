"""What a distributed run did: items, failures with their reasons, throughput per worker.

:class:`EmbedSummary` is the account; :func:`_summarise`, :func:`_steady_rate` and
:func:`_start_timings` draw it up from the one small row that each shard sends the driver.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bottlekit._checks import check_number
from bottlekit.safetensors_file import dump_json

__all__ = ["EmbedSummary"]


@dataclass
class EmbedSummary:
    """The account of one :func:`bottlekit.distributed.embed_dataset` run.

    Parameters
    ----------
    out : str
        The output folder.
    n_items : int
        Items in the source.
    n_written : int
        Items held by the shards after the run (computed now, earlier, or taken from
        the embedding cache).
    n_encoded : int
        Items the encoders ran on in this run (zero for a finished job run again).
    n_cached : int
        Items taken from the local embedding cache instead of being encoded.
    shards_total, shards_computed, shards_reused : int
        Shards in the job; computed in this run; found complete and reused.
    failures : list of dict
        One ``{"path", "reason"}`` per item that could not be read or decoded.
    damaged : list of str
        Shards found damaged (unreadable, of another job, failing their checksum) and
        redone in this run, each with the reason.
    workers : dict
        Per encoder worker (``host:pid``): ``items``, ``seconds`` (encoding and writing
        time) and ``items_per_s``.
    decoders : dict
        The same per decoding worker (reading, decoding and preprocessing time).
    seconds : float
        Wall-clock time of the run.
    first_shard_s : float
        Time from the call to the first shard done: the fixed cost of starting (the
        model loaded on the driver and in every encoder, the workers' imports).
    steady_items_per_s : float
        Items encoded per second from the first shard done to the last: the pipeline's
        rate once the workers are up, without the start (0 with fewer than two shards).
    timings : dict
        Where the start went, in seconds from the call: ``prepare_s`` (items listed,
        the model loaded on the driver, Ray started or joined), ``first_decode_s`` (the
        first decode task began), ``encoder_init_s`` and ``encoders_ready_s`` (the first
        encoder began importing and loading its model; the last one was ready),
        ``first_shard_s``.

    Examples
    --------
    >>> s = EmbedSummary("out", 3, 2, 2, 0, 1, 1, 0, [{"path": "a.jpg", "reason": "bad"}])
    >>> print(s.text().splitlines()[0])
    3 items: 2 written (2 encoded now, 0 from the cache), 1 failed; 1 shard(s) computed, 0 reused
    """

    out: str
    n_items: int
    n_written: int
    n_encoded: int
    n_cached: int
    shards_total: int
    shards_computed: int
    shards_reused: int
    failures: list[dict[str, str]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    workers: dict[str, dict[str, float]] = field(default_factory=dict)
    decoders: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    first_shard_s: float = 0.0
    steady_items_per_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        """Items encoded per second of wall-clock time in this run."""
        return self.n_encoded / self.seconds if self.seconds > 0 else 0.0

    def text(self, max_failures: int = 10) -> str:
        """A human-readable summary, listing at most ``max_failures`` failed items.

        Parameters
        ----------
        max_failures : int, default 10
            Failed items listed with their reasons (>= 0); the rest are counted.

        Returns
        -------
        str
            Several lines: the counts, the time and rate, one line per worker, damaged
            shards and failures.
        """
        max_failures = check_number(max_failures, "max_failures", integer=True, low=0)
        lines = [
            f"{self.n_items} items: {self.n_written} written ({self.n_encoded} encoded now, "
            f"{self.n_cached} from the cache), {len(self.failures)} failed; "
            f"{self.shards_computed} shard(s) computed, {self.shards_reused} reused"
        ]
        if self.seconds > 0:
            lines.append(
                f"{self.seconds:.1f} s, {self.items_per_s:.1f} items/s "
                f"(first shard done after {self.first_shard_s:.1f} s"
                + (
                    f", then {self.steady_items_per_s:.1f} items/s)"
                    if self.steady_items_per_s > 0
                    else ")"
                )
            )
        for kind, table in (("encoder", self.workers), ("decoder", self.decoders)):
            for name, w in sorted(table.items()):
                lines.append(
                    f"  {kind} {name}: {int(w['items'])} items in {w['seconds']:.1f} s "
                    f"({w['items_per_s']:.1f} items/s)"
                )
        for d in self.damaged:
            lines.append(f"  damaged shard redone: {d}")
        for f in self.failures[:max_failures]:
            lines.append(f"  failed: {f['path']}: {f['reason']}")
        if len(self.failures) > max_failures:
            lines.append(f"  ... and {len(self.failures) - max_failures} more failures")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The summary as standard JSON (a NaN or infinite time is written as ``null``).

        Returns
        -------
        str
            A JSON object of every field plus ``items_per_s``, indented by one space.
        """
        d: dict[str, Any] = asdict(self)
        d["items_per_s"] = self.items_per_s
        return dump_json(d, name="summary", indent=1)


def _start_timings(
    results: list[dict[str, Any]], prepare_s: float, first_s: float, wall_start: float
) -> dict[str, float]:
    """Where the time to the first shard went (seconds from the call; wall clocks)."""
    timings = {"prepare_s": prepare_s, "first_shard_s": first_s}
    decoded = [float(r["decode_wall"]) for r in results if r["status"] == "computed"]
    if decoded:
        timings["first_decode_s"] = min(decoded) - wall_start
    inits = {str(r["worker"]): (r["init_wall"], r["ready_wall"]) for r in results}
    if inits:
        timings["encoder_init_s"] = min(a for a, _ in inits.values()) - wall_start
        timings["encoders_ready_s"] = max(b for _, b in inits.values()) - wall_start
    return timings


def _steady_rate(results: list[dict[str, Any]]) -> float:
    """Items encoded per second between the first shard done and the last."""
    if len(results) < 2:
        return 0.0
    span = results[-1]["done_s"] - results[0]["done_s"]
    items = sum(int(r["encoded"]) for r in results[1:])
    return items / span if span > 0 else 0.0


def _summarise(
    results: list[dict[str, Any]], out: Path, n: int, n_shards: int, seconds: float
) -> EmbedSummary:
    results = sorted(results, key=lambda r: int(r["shard"]))
    failures = [f for r in results for f in json.loads(r["failures"])]
    workers: dict[str, dict[str, float]] = {}
    for r in results:
        if r["status"] != "computed":
            continue
        w = workers.setdefault(str(r["worker"]), {"items": 0, "seconds": 0.0})
        w["items"] += int(r["encoded"])
        w["seconds"] += float(r["encode_s"])
    decoders: dict[str, dict[str, float]] = {}
    for r in results:
        if r["status"] != "computed":
            continue
        w = decoders.setdefault(str(r["decoder"]), {"items": 0, "seconds": 0.0})
        w["items"] += int(r["n"]) + len(json.loads(r["failures"]))
        w["seconds"] += float(r["decode_s"])
    for w in [*workers.values(), *decoders.values()]:
        w["items_per_s"] = w["items"] / w["seconds"] if w["seconds"] > 0 else 0.0
    return EmbedSummary(
        out=str(out),
        n_items=n,
        n_written=sum(int(r["n"]) for r in results),
        n_encoded=sum(int(r["encoded"]) for r in results),
        n_cached=sum(int(r["cached"]) for r in results),
        shards_total=n_shards,
        shards_computed=sum(r["status"] == "computed" for r in results),
        shards_reused=sum(r["status"] == "reused" for r in results),
        failures=failures,
        damaged=[str(r["damaged"]) for r in results if r["damaged"]],
        workers=workers,
        decoders=decoders,
        seconds=seconds,
    )
