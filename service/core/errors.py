"""Domain errors raised by the retrieval core; the app maps each to an HTTP status."""


class InvalidRequest(ValueError):
    """A question or parameter the core cannot work with; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownDocument(LookupError):
    """A document id that the served index does not hold."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"no document with id {doc_id!r} in the served index")
        self.doc_id = doc_id
