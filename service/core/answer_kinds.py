"""What kind of thing a question asks for (an amount of money, a count, a date) and whether a quote holds one:
"How much does a 31-day pass cost?" is not answered by a sentence that names the pass but no price."""

from __future__ import annotations

import re

from indexer.storage.sentence_table import MONTH, NUMBER, YEAR

ASKS_AMOUNT = re.compile(
    r"\bhow\s+much\b.*\b(cost|costs|costing|charge|charges|pay|paid|spend|spent|worth|fare|price|budget|owe|receive|received|contribute|contributes)\b|"
    r"\bwhat\s+(is|was|are|were)\s+(the\s+)?(\w+\W+){0,6}?(budget|fare|price|cost|salary|value)\b|\bhow\s+much\s+(money|funding)\b",
    re.IGNORECASE,
)
ASKS_COUNT = re.compile(
    r"\bhow\s+many\b|\b(what|which)\s+(is|was)\s+(the\s+)?(\w+\W+){0,6}?(number|population|ridership|headcount)\b|"
    r"\bwhat\s+(share|percentage|proportion|fraction)\b",
    re.IGNORECASE,
)
ASKS_DATE = re.compile(r"^\W*when\b|\b(since|until)\s+when\b|\b(what|which)\s+(year|date|month|day)\b|\bin\s+what\s+year\b", re.IGNORECASE)
ERA = re.compile(r"\d|\b(century|centuries|decade|decades)\b", re.IGNORECASE)
MONEY = re.compile(r"[$£€]\s?\d|\b\d[\d,.]*\s*(dollars|pounds|euros|usd|gbp)\b|\b(million|billion)\b", re.IGNORECASE)


def asked_kind(question: str) -> str | None:
    """"amount", "count" or "date" when the question asks for one, else None (what, why, how, yes or no)."""
    if ASKS_AMOUNT.search(question):
        return "amount"
    if ASKS_COUNT.search(question):
        return "count"
    if ASKS_DATE.search(question):
        return "date"
    return None


def holds_kind(text: str, kind: str | None) -> bool:
    """Whether a quote holds something of the kind asked for (always, when none is asked for)."""
    if kind == "amount":
        return bool(MONEY.search(text))
    if kind == "count":
        return bool(NUMBER.search(text))
    if kind == "date":
        return bool(YEAR.search(text) or MONTH.search(text) or ERA.search(text))
    return True
