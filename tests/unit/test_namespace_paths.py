"""Namespace file paths: one spelling, and nothing that climbs out (issue 8)."""

from __future__ import annotations

import pytest

from namespaces.paths import (
    PathRefused,
    ancestors,
    matches,
    normalize,
    parent_of,
    parse_nsfile_uri,
    storage_suffix,
)


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("scripts/etl.py", "/scripts/etl.py"),
        ("/scripts/etl.py", "/scripts/etl.py"),
        ("//scripts///etl.py", "/scripts/etl.py"),
        ("  /a b/c.txt ", "/a b/c.txt"),
        ("/…/é.txt", "/…/é.txt"),
    ],
)
def test_paths_are_written_one_way(given: str, normal: str) -> None:
    assert normalize(given) == normal


@pytest.mark.parametrize(
    "bad",
    ["../etc/passwd", "/a/../../b", "a/./b", "a\\b", "a\x00b", "", "/", "x" * 256, None],
)
def test_paths_that_escape_or_are_odd_are_refused(bad) -> None:
    with pytest.raises(PathRefused):
        normalize(bad)


def test_the_root_is_allowed_only_where_asked() -> None:
    assert normalize("/", allow_root=True) == "/"
    assert normalize("", allow_root=True) == "/"


def test_folders_above_a_path() -> None:
    assert parent_of("/a/b/c.txt") == "/a/b"
    assert parent_of("/c.txt") == "/"
    assert ancestors("/a/b/c.txt") == ["/a", "/a/b"]
    assert ancestors("/c.txt") == []


def test_names_are_percent_encoded_in_storage_uris() -> None:
    assert storage_suffix("/data/100% sure.csv") == "data/100%25%20sure.csv"


@pytest.mark.parametrize(
    ("path", "patterns", "hit"),
    [
        ("/scripts/a.py", ["**/*.py"], True),
        ("/a.py", ["**/*.py"], True),
        ("/scripts/a.py", ["scripts/*"], True),
        ("/scripts/a.py", ["/scripts/*"], True),
        ("/scripts/a.sql", ["*.py"], False),
        ("/data/x.csv", ["scripts/**"], False),
    ],
)
def test_include_and_exclude_globs(path: str, patterns: list[str], hit: bool) -> None:
    assert matches(path, patterns) is hit


def test_nsfile_uris_name_a_namespace_or_the_flows() -> None:
    assert parse_nsfile_uri("nsfile:///data/x.csv", "a.b") == ("a.b", "/data/x.csv")
    assert parse_nsfile_uri("nsfile://other.ns/x.csv", "a.b") == ("other.ns", "/x.csv")
    with pytest.raises(PathRefused):
        parse_nsfile_uri("nsfile:///../x", "a.b")
    with pytest.raises(PathRefused):
        parse_nsfile_uri("kestra:///x", "a.b")
