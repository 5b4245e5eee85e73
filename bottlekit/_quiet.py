"""Other libraries' chatter kept out of bottlekit's output, without changing their settings.

Some dependencies log at DEBUG level on their own (``bm25s`` sets its logger to DEBUG at
import) or draw progress bars while loading (``transformers``' "Loading weights"). Inside
a bottlekit call those lines are noise in the user's output; outside it they are the
user's business. So bottlekit lowers them only for the duration of its own calls and puts
every setting back as it found it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["quiet_libraries"]


@contextlib.contextmanager
def quiet_libraries(*loggers: str, progress_bars: bool = True) -> Iterator[None]:
    """Silence ``loggers`` below WARNING (and transformers' bars) inside the block only.

    Parameters
    ----------
    *loggers : str
        Names of the libraries' loggers (e.g. ``"bm25s"``).
    progress_bars : bool, default=True
        Also turn off ``transformers``' progress bars, if it is imported.

    Examples
    --------
    >>> import logging
    >>> log = logging.getLogger("chatty"); log.setLevel(logging.DEBUG)
    >>> with quiet_libraries("chatty"):
    ...     log.isEnabledFor(logging.DEBUG)
    False
    >>> log.level == logging.DEBUG   # restored
    True
    """
    saved = {}
    for name in loggers:
        log = logging.getLogger(name)
        saved[name] = log.level
        if log.getEffectiveLevel() < logging.WARNING:
            log.setLevel(logging.WARNING)
    bars = None
    if progress_bars:
        import sys

        tf_logging = sys.modules.get("transformers.utils.logging")
        if tf_logging is not None and tf_logging.is_progress_bar_enabled():
            bars = tf_logging
            bars.disable_progress_bar()
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        if bars is not None:
            bars.enable_progress_bar()
