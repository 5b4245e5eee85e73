"""``python -m bottlekit.world``: summary of the world and its generation speed.

The speed is measured in CPU seconds of this process (``time.process_time``) with
numpy on one thread, so it is the single-core figure even on a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import time

from bottlekit._checks import check_number
from bottlekit.world.dataset import make_world
from bottlekit.world.species import CLASS_NAMES, CONCEPT_NAMES, GROUPS, PART_NAMES


def generation_speed(n: int = 4000, repeats: int = 3, return_masks: bool = True) -> float:
    """Best images per CPU-second of ``make_world(n)`` over ``repeats`` runs."""
    check_number(n, "n", integer=True, low=1)
    check_number(repeats, "repeats", integer=True, low=1)
    make_world(24, "train", random_state=0, return_masks=return_masks)  # warm-up
    best = 0.0
    for r in range(repeats):
        t = time.process_time()
        make_world(n, "train", random_state=r, return_masks=return_masks)
        best = max(best, n / (time.process_time() - t))
    return best


def main(argv: list[str] | None = None) -> None:
    """Print the summary."""
    p = argparse.ArgumentParser(
        prog="python -m bottlekit.world", description="Summary and generation speed of the world."
    )
    p.add_argument("--n", type=int, default=4000, help="images per timing run (default 4000)")
    p.add_argument(
        "--repeats", type=int, default=3, help="timing runs, the best one reported (default 3)"
    )
    a = p.parse_args(argv)
    check_number(a.n, "n", integer=True, low=1)  # (before the summary is printed)
    check_number(a.repeats, "repeats", integer=True, low=1)
    print(f"{len(CLASS_NAMES)} species: {', '.join(CLASS_NAMES)}")
    print(f"{len(CONCEPT_NAMES)} concepts over parts {', '.join(PART_NAMES)}:")
    for g in GROUPS:
        print(f"  {g.part:>10} | {g.key:<12} | {', '.join(g.concepts)}")
    w = make_world(4, "train", random_state=0)
    print(f"images {w.images.shape[1:]} uint8, corpus {len(w.corpus)} documents")
    for masks in (True, False):
        rate = generation_speed(a.n, a.repeats, masks)
        print(
            f"make_world: {rate:,.0f} images per CPU-second "
            f"({'with' if masks else 'without'} part masks, n={a.n})"
        )


def _command(argv: list[str] | None = None) -> int:
    """``python -m bottlekit.world``': :func:`main`, a user error reported as one line
    and exit status 2 (:func:`bottlekit._command_errors.run_reporting_errors`)."""
    from bottlekit._command_errors import run_reporting_errors

    return run_reporting_errors(lambda: main(argv), "python -m bottlekit.world")


if __name__ == "__main__":
    sys.exit(_command())
