# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Text-query lists from parameters and the ``queries`` topic: parsing and limits (no ROS).

A ``queries`` message is a JSON list of strings (``["a red mug", "a chair"]``) or
comma-separated text (``a red mug, a chair``). A rejected list raises :class:`QueryError`
with a stable ``reason`` key for diagnostics; the node then keeps its previous queries.
"""

from __future__ import annotations

import json

#: default limits of a query list (the node's ``max_queries``/``max_query_length`` parameters)
MAX_QUERIES = 32
MAX_QUERY_LENGTH = 200


class QueryError(ValueError):
    """A query list that is not accepted; ``reason`` is a short key, str() one sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_queries(queries: list[str], max_queries: int, max_length: int) -> None:
    """Raise QueryError unless 1..max_queries non-empty queries of at most max_length chars."""
    if not queries:
        raise QueryError("empty", "the query list is empty")
    if len(queries) > max_queries:
        raise QueryError("too_many", f"{len(queries)} queries, at most {max_queries} allowed")
    for query in queries:
        if not query.strip():
            raise QueryError("empty_query", "a query is empty")
        if len(query) > max_length:
            raise QueryError(
                "too_long", f"a query has {len(query)} characters, at most {max_length} allowed")


def parse_queries(data: str | bytes, max_queries: int, max_length: int) -> list[str]:
    """Parse and check a ``queries`` message payload (UTF-8 bytes or str)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise QueryError("not_utf8", "the queries message is not valid UTF-8") from None
    text = data.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise QueryError(
                "malformed_json", f"the queries message is not valid JSON ({err.msg})") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QueryError("malformed_json", "a JSON queries message must be a list of strings")
        queries = [v.strip() for v in value]
    else:
        queries = [part.strip() for part in text.split(",")] if text else []
    check_queries(queries, max_queries, max_length)
    return queries
