"""The one exception type for bad user input.

It subclasses ValueError so library callers can catch it as such; the CLI turns it, and only it,
into one line on stderr with exit status 2, so a genuine bug still shows its traceback.
"""


class BadInput(ValueError):
    """An argument, file, key or value the user supplied is not allowed; the message names it."""
