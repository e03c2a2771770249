"""The user-facing error of a bad grid (no imports: every layer may raise it)."""


class GridError(ValueError):
    """A mistake in a grid: the message is one line naming the source, key and value.
    The command line turns it into exit code 2 without a traceback."""
