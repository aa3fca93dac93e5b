"""The answering threads: real answers from the real index, never more at once than the pool has threads."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.core.answer import answer_question
from service.core.answer_pool import AnswerPool, answer_pool, use_answer_threads
from service.core.retrieval import Retriever
from service.http.app import create_app
from service.settings import Settings

QUESTIONS = ["What did the inspector say about vetting?", "How does the force treat the public?", "Is the Met efficient?"] * 4


def test_concurrent_callers_get_their_own_answers(retriever: Retriever) -> None:
    async def ask_all() -> list:
        pool = AnswerPool(2)
        try:
            return await asyncio.gather(*(pool.run(answer_question, retriever, question) for question in QUESTIONS))
        finally:
            pool.close()

    answers = asyncio.run(ask_all())
    alone = {question: answer_question(retriever, question) for question in set(QUESTIONS)}
    assert [answer.evidence for answer in answers] == [alone[question].evidence for question in QUESTIONS]
    assert [answer.verdict for answer in answers] == [alone[question].verdict for question in QUESTIONS]


def test_no_more_run_at_once_than_the_pool_has_threads() -> None:
    running, most, lock = [0], [0], threading.Lock()

    def work(seconds: float) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(seconds)
        with lock:
            running[0] -= 1
        return threading.current_thread().name

    async def many() -> list[str]:
        pool = AnswerPool(2)
        try:
            return await asyncio.gather(*(pool.run(work, 0.02) for _ in range(8)))
        finally:
            pool.close()

    names = asyncio.run(many())
    assert most[0] == 2 and len(set(names)) == 2 and all(name.startswith("answer") for name in names)


def test_a_cancelled_caller_is_dropped_from_the_queue() -> None:
    started: list[int] = []

    def work(number: int) -> int:
        started.append(number)
        time.sleep(0.05)
        return number

    async def cancel_the_waiting_one() -> int:
        pool = AnswerPool(1)
        try:
            first = asyncio.ensure_future(pool.run(work, 1))
            waiting = asyncio.ensure_future(pool.run(work, 2))
            await asyncio.sleep(0.01)
            waiting.cancel()
            result = await first
            await asyncio.sleep(0.1)
            return result
        finally:
            pool.close()

    assert asyncio.run(cancel_the_waiting_one()) == 1
    assert started == [1]


def test_the_server_sizes_the_pool_from_answer_threads(index_dir: Path) -> None:
    try:
        with TestClient(create_app(Settings(index=index_dir, answer_threads=3))) as client:
            response = client.post("/ask", json={"question": "What did the inspector say about vetting?"})
            assert response.status_code == 200 and response.json()["evidence"]
            assert answer_pool().threads == 3
    finally:
        use_answer_threads(2)
    with pytest.raises(ValueError, match="at least 1"):
        AnswerPool(0)


def test_resizing_keeps_the_questions_already_given() -> None:
    async def resize_while_waiting() -> list[float]:
        use_answer_threads(1)
        try:
            given = [asyncio.ensure_future(answer_pool().run(time.sleep, 0.02)) for _ in range(3)]
            await asyncio.sleep(0.005)
            use_answer_threads(2)
            return await asyncio.gather(*given)
        finally:
            use_answer_threads(2)

    assert asyncio.run(resize_while_waiting()) == [None, None, None]


def test_an_error_in_a_pool_thread_reaches_its_caller() -> None:
    def fail(message: str) -> str:
        raise ValueError(f"{message} (in {threading.current_thread().name})")

    async def ask() -> None:
        pool = AnswerPool(1)
        try:
            # Asked together with another caller, so the question goes to a thread, not the event loop.
            await asyncio.gather(pool.run(fail, "no such document"), pool.run(time.sleep, 0.01))
        finally:
            pool.close()

    with pytest.raises(ValueError, match=r"no such document \(in answer_0\)"):
        asyncio.run(ask())


def test_closing_cancels_the_callers_still_waiting_and_refuses_new_work() -> None:
    async def close_while_waiting() -> tuple[float | None, bool]:
        pool = AnswerPool(1)
        running = asyncio.ensure_future(pool.run(time.sleep, 0.05))
        waiting = asyncio.ensure_future(pool.run(time.sleep, 0.05))
        await asyncio.sleep(0.01)
        pool.close()
        with pytest.raises(RuntimeError, match="closed"):
            await pool.run(time.sleep, 0)
        first = await running
        await asyncio.gather(waiting, return_exceptions=True)
        return first, waiting.cancelled()

    assert asyncio.run(close_while_waiting()) == (None, True)


def test_a_lone_caller_is_answered_on_the_event_loop_and_callers_together_in_the_threads(retriever: Retriever) -> None:
    def where(question: str) -> tuple[str, list]:
        return threading.current_thread().name, answer_question(retriever, question).evidence

    async def one_then_many() -> tuple[list, list]:
        pool = AnswerPool(2)
        try:
            lone = [await pool.run(where, question) for question in QUESTIONS[:3]]
            together = await asyncio.gather(*(pool.run(where, question) for question in QUESTIONS))
            return lone, together
        finally:
            pool.close()

    lone, together = asyncio.run(one_then_many())
    loop_thread = threading.current_thread().name
    assert [name for name, _ in lone] == [loop_thread] * 3
    assert all(name.startswith("answer") for name, _ in together)
    alone = {question: answer_question(retriever, question).evidence for question in set(QUESTIONS)}
    assert [evidence for _, evidence in lone + together] == [alone[question] for question in QUESTIONS[:3] + QUESTIONS]


def test_callers_arriving_together_are_answered_in_their_order() -> None:
    order: list[int] = []

    def work(number: int) -> None:
        order.append(number)
        time.sleep(0.005)

    async def many() -> None:
        pool = AnswerPool(1)
        try:
            await asyncio.gather(*(pool.run(work, number) for number in range(6)))
        finally:
            pool.close()

    asyncio.run(many())
    assert order == list(range(6))
