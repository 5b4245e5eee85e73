"""How a command line reports what went wrong: one rule for ``bottlekit`` and the
``python -m bottlekit.world...`` commands.

A user error (``ValueError``, ``TypeError``, ``OSError``: an option out of range, a file
that is missing or not what it should be) is one line on stderr, ``PROG: error: ...``,
and exit status 2, as argparse reports its own; Ctrl-C is one line, ``PROG:
interrupted``, and status 130, the shell's for SIGINT. Output read by a program that
stopped reading (``bottlekit backbones | head -1``) ends the command without a word, with
status 141, the shell's for SIGPIPE. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["run_reporting_errors"]


def run_reporting_errors(run: Callable[[], object], prog: str) -> int:
    """Call ``run()`` and turn a user error or Ctrl-C into one line on stderr.

    Parameters
    ----------
    run : callable
        The command's work; an int it returns is the exit status (anything else: 0).
    prog : str
        The command as the user typed it, first word of the message (e.g.
        ``"python -m bottlekit.world.train"``).

    Returns
    -------
    int
        The exit status: ``run``'s, 2 after a user error, 130 after Ctrl-C, 141 when
        standard output was closed by its reader.

    Examples
    --------
    >>> def bad():
    ...     raise ValueError("--n: expected an int >= 1, got 0")
    >>> run_reporting_errors(bad, "demo")  # doctest: +SKIP
    demo: error: --n: expected an int >= 1, got 0
    2
    """
    try:
        status = run()
    except BrokenPipeError as e:
        if not _stdout_closed():  # another pipe (a socket, a subprocess): an error
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
        return 141
    except (ValueError, TypeError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def _stdout_closed() -> bool:
    """Whether standard output is a pipe its reader closed; if so it is pointed at
    ``os.devnull``, so that the interpreter's last flush does not fail once more ("Exception
    ignored ... BrokenPipeError")."""
    try:
        import select

        fd = sys.stdout.fileno()
        poller = select.poll()  # (not on Windows: AttributeError)
        poller.register(fd, select.POLLOUT)
        events = dict(poller.poll(0)).get(fd, 0)
    except (OSError, ValueError, AttributeError):  # replaced or closed: not that pipe
        return False
    if not events & select.POLLERR:
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    return True
