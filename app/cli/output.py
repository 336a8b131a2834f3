"""The CLI's one convention for output and exit codes (README, "Command line").

Results go to stdout (text, or one JSON document with --json); progress, warnings and errors go to stderr, an
error as one line starting with "error: ". Exit codes: OK 0; FAILED 1 when the command ran and could not do it
(a model that does not load, an unreadable file, the hub unreachable, a failed self-test); USAGE 2 when the
command line itself is wrong (argparse's own errors, values or options that do not go together);
INTERRUPTED 130 after Ctrl+C.
"""

from __future__ import annotations

import sys

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


def fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return FAILED


def usage(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE
