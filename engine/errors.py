"""The one exception type a user sees: its message is a single line that says what to do."""


class VitrineError(Exception):
    """A problem the user can act on (bad input, missing model, no network...).

    The CLI prints ``str(err)`` on one line and exits non-zero; the desktop app shows it in a dialog.
    Anything else that escapes is a bug.
    """

    exit_code = 2
