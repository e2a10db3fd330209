# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The parameter checks a hostile operator meets, without a node (the node test is slow).

Every case is refused with one sentence, never reinterpreted, and a request is checked
against itself (a limit and a value set together).
"""

from __future__ import annotations

import pytest

from tips_ros.engine.prediction import ZEROSHOT_TEMPLATES
from tips_ros.engine.parameters import (
    MAX_PROMPTS, SPEC_BY_NAME, SPECS, check_request, check_startup, read_params,
)

#: (changes of one request, a word the reason must hold)
REFUSED = [
    ({"text_queries": 5}, "list of strings"),
    ({"text_queries": True}, "list of strings"),
    ({"text_queries": "chair"}, "not the string"),
    ({"text_queries": [1, 2]}, "list of strings"),
    ({"prompt_templates": 0.5}, "list of strings"),
    ({"cameras": 3}, "list of strings"),
    ({"cameras": "front"}, "not the string"),
    ({"prompt_templates": ["a {x} photo"]}, "exactly one"),
    ({"prompt_templates": ["a {0} photo"]}, "exactly one"),
    ({"prompt_templates": ["a {} of {}"]}, "exactly one"),
    ({"prompt_templates": ["no field"]}, "exactly one"),
    ({"prompt_templates": ["a {:>9} photo"]}, "exactly one"),
    ({"prompt_templates": ["a { photo"]}, "does not format"),
    ({"zeroshot_templates": ["a {name}"]}, "exactly one"),
    ({"prompt_templates": ["{}" + "x" * 5000]}, "characters"),
    ({"max_batch": "8"}, "an integer"),
    ({"max_batch": 3.0}, "an integer"),
    ({"publish_points": 1}, "a boolean"),
    ({"heatmap_temperature": "hot"}, "a number"),
    ({"max_batch": 0}, "max_batch"),
    ({"max_queries": 2, "text_queries": ["a", "b", "c"]}, "at most 2"),  # same request
    ({"max_queries": 2}, "at most 2"),  # below the current list
    ({"max_query_length": 3, "text_queries": ["person"]}, "at most 3"),
    ({"max_queries": 255, "text_queries": [f"q{i}" for i in range(255)],
      "prompt_templates": [f"{{}} {i}" for i in range(8)]}, "prompts"),
]


def defaults():
    return read_params(lambda name: SPEC_BY_NAME[name].default)


@pytest.mark.parametrize(("changes", "word"), REFUSED)
def test_a_hostile_request_is_refused_with_one_sentence(changes, word):
    reason = check_request(defaults(), changes)
    assert reason and word in reason and "\n" not in reason and len(reason) < 300, reason


def test_the_largest_query_list_with_the_default_templates_is_admitted():
    queries = [f"q{i}" for i in range(255)]
    assert len(queries) * len(ZEROSHOT_TEMPLATES) == MAX_PROMPTS
    assert check_request(defaults(), {"max_queries": 255, "text_queries": queries,
                                      "prompt_templates": list(ZEROSHOT_TEMPLATES)}) is None
    assert check_request(defaults(), {"text_queries": [], "cameras": []}) is not None  # empty
    assert check_request(defaults(), {"cameras": [], "heatmap_temperature": 1}) is None


def test_startup_values_fall_back_to_their_defaults_consistently():
    values = {spec.name: spec.default for spec in SPECS}
    values.update(text_queries=5, max_queries=1000, cameras="front", max_batch="x",
                  prompt_templates=["{y}"])
    rejected = check_startup(values)
    assert set(rejected) == {"text_queries", "max_queries", "cameras", "max_batch",
                             "prompt_templates"}
    assert all(values[name] == SPEC_BY_NAME[name].default for name in rejected)
    # a query list valid only with a rejected limit falls back too
    values = {spec.name: spec.default for spec in SPECS}
    values.update(max_queries=1000, text_queries=[f"q{i}" for i in range(100)])
    assert set(check_startup(values)) == {"max_queries", "text_queries"}
