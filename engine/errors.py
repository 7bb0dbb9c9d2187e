"""The one error type for bad input: the CLI turns it into one sentence and exit code 2,
the OSC server into a `/fail` reply. Its message always names the file, message or field."""


class InputError(ValueError):
    """Input a user can fix: a file, an argument, a message. The message says what and why."""
