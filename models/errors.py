"""Errors the model pipeline raises: one line that says what went wrong and what to do."""


class ModelError(Exception):
    """A user-facing failure of the model store; str() is the whole message, hint included."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)
