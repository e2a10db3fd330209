# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""One size parser and one query parser, shared by the node and every subcommand."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tips_ros.offline.arguments import parse_list, parse_size, positive_int, query_list, Size
from tips_ros.errors import UsageError
from tips_ros.engine.queries import QueryError, parse_queries


def test_sizes_are_width_by_height_everywhere():
    size = parse_size("640x480")
    assert size == Size(640, 480) and (size.width, size.height) == (640, 480)
    assert parse_size("64X48") == (64, 48)
    for bad in ("640by480", "640x", "x480", "1x2x3", ""):
        with pytest.raises(UsageError, match="WIDTHxHEIGHT"):
            parse_size(bad)
    with pytest.raises(UsageError, match="at least 16x16"):
        parse_size("8x480", minimum=16)
    assert issubclass(UsageError, argparse.ArgumentTypeError)  # usable as an argparse type


@pytest.mark.slow
def test_synth_bag_and_bench_read_the_same_order():
    from tips_ros.cli import bench, build_parser, synth_bag

    bench_args = build_parser("bench").parse_args(["bench", "--size", "320x240"])
    bench_options = bench.options(bench_args, "model", "text_model")
    synth_args = build_parser("synth-bag").parse_args(["synth-bag", "x", "--size", "320x240"])
    assert synth_bag.options(synth_args).size == bench_options.frame_size == Size(320, 240)
    result = subprocess.run([sys.executable, "-m", "tips_ros.cli", "synth-bag", "/nonexistent/x",
                             "--size", "8x8"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "too small (at least 16x16)" in result.stderr


@pytest.mark.parametrize("text, expected", [
    ("a red mug, a chair", ["a red mug", "a chair"]),
    ('["a red mug", " a chair "]', ["a red mug", "a chair"]),
    ("door", ["door"]),
])
def test_command_line_and_topic_queries_parse_alike(text: str, expected: list[str]):
    assert query_list(text) == expected
    assert parse_queries(text.encode(), 32, 200) == expected


def test_bench_and_replay_take_the_same_query_lists():
    from tips_ros.cli import bench, build_parser

    args = build_parser("bench").parse_args(["bench", "--queries", '["a red mug", "a, b"]'])
    assert bench.options(args, "m", "t").queries == ("a red mug", "a, b")
    with pytest.raises(UsageError, match="queries rejected"):
        bench.options(build_parser("bench").parse_args(["bench", "--queries", "a,,b"]), "m", "t")


def test_comma_lists():
    assert parse_list(" 1, 8,") == ["1", "8"]
    assert parse_list("1,8", positive_int) == [1, 8]
    with pytest.raises(UsageError, match="cannot parse list '1,x'"):
        parse_list("1,x", int)
    with pytest.raises(UsageError, match="0 is not a positive integer"):
        parse_list("1,0", positive_int)


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("a,,b", "empty_query"), ("[not json", "malformed_json"),
    ('["a", 3]', "malformed_json"), (",".join(["q"] * 33), "too_many"), ("x" * 201, "too_long"),
])
def test_command_line_and_topic_queries_reject_alike(text: str, reason: str):
    with pytest.raises(QueryError) as topic_error:
        parse_queries(text, 32, 200)
    assert topic_error.value.reason == reason
    with pytest.raises(UsageError, match="queries rejected"):
        query_list(text)
