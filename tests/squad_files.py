"""Small SQuAD-format files written at test time: eight articles of made-up facts, v1.1 and v2.0 shaped."""

from __future__ import annotations

import json
from pathlib import Path

PLACES = ["Avonmere", "Brackley Fen", "Cobham Vale", "Dunmore", "Elsworth", "Farrow Cross", "Glenholt", "Harwick"]


def paragraph(place: str, number: int) -> tuple[str, list[tuple[str, str]]]:
    """A paragraph about a made-up town and the questions (question, answer) it answers."""
    river, founded, people = f"the {place} Brook", 1200 + 37 * number, 1000 * (number + 3)
    text = (
        f"The river that runs through {place} is {river}. Wool merchants founded {place} in the year {founded}. "
        f"Today {people} people live in {place}, most of them in the old quarter."
    )
    return text, [
        (f"Which river runs through {place}?", river),
        (f"In what year was {place} founded?", str(founded)),
        (f"How many people live in {place}?", str(people)),
    ]


def write_squad(path: Path, impossible: bool = False) -> Path:
    """A SQuAD file of eight one-paragraph articles (v2.0 style with unanswerable questions when impossible)."""
    articles = []
    for number, place in enumerate(PLACES):
        text, pairs = paragraph(place, number)
        qas = [
            {"id": f"{number}-{i}", "question": q, "answers": [{"text": a, "answer_start": text.index(a)}], **({"is_impossible": False} if impossible else {})}
            for i, (q, a) in enumerate(pairs)
        ]
        if impossible:
            qas.append({"id": f"{number}-x", "question": f"Which king closed the mint in {place}?", "answers": [], "plausible_answers": [], "is_impossible": True})
        articles.append({"title": place.replace(" ", "_"), "paragraphs": [{"context": text, "qas": qas}]})
    path.write_text(json.dumps({"version": "2.0" if impossible else "1.1", "data": articles}), encoding="utf-8")
    return path


def write_squad_dir(directory: Path) -> Path:
    """dev-v1.1.json and dev-v2.0.json side by side, as ../shared/benchmarks/squad holds them."""
    directory.mkdir(parents=True, exist_ok=True)
    write_squad(directory / "dev-v1.1.json")
    write_squad(directory / "dev-v2.0.json", impossible=True)
    return directory
