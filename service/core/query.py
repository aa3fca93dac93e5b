"""Question framing: the words that ask, as opposed to the words that say what about."""

from __future__ import annotations

import re

# "What did the inspector say about vetting?" is how people ask these reports
# questions; the framing words match every sentence that mentions the inspector
# and none that answers, so retrieval uses the topic that follows them.
FRAMING = re.compile(
    r"""^\s*(?:what|how)\s+(?:did|does|do|has|have|was|is)\s+(?:the\s+)?
    (?:hm\s*)?(?:inspector|inspectors|inspectorate|inspection|report|statement|hmic|hmicfrs|reviewer|reviewers|review|fta|auditor|auditors)(?:'s)?
    (?:\s+report|\s+statement)?\s+
    (?:say|said|think|find|found|conclude|concluded|note|noted|write|wrote|report|reported|mention|mentioned|observe|observed)
    \s+(?:about|on|regarding|concerning|of|in\s+relation\s+to)\s+(?P<topic>.+?)\s*\??\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def retrieval_text(question: str) -> str:
    """The part of a question that retrieval should match: the topic when the framing is standard."""
    match = FRAMING.match(question)
    return match.group("topic") if match else question
