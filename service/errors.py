"""Domain errors raised by the retrieval core; the app maps each to an HTTP status."""


class InvalidRequest(ValueError):
    """A question or parameter the core cannot work with; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
