"""Retrieval and answer evaluation on JSONL eval sets, driving the retrieval core in-process."""
