"""select_ids answers matchers exactly as checking every series' labels would."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.index import HeadIndex
from kubeprom.tsdb.postings import select_ids

NAMES = ["a", "b", "c"]
VALUES = ["", "x", "y", "xy", "z"]
label_sets = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES)).map(
        lambda d: Labels({"__name__": "m", **d}.items())
    ),
    max_size=30,
    unique=True,
)
matchers = st.builds(
    Matcher,
    st.sampled_from(list(MatchType)),
    st.sampled_from(NAMES),
    st.sampled_from([*VALUES, "x.*", ".+", "x|y"]),
)


@settings(max_examples=300, deadline=None)
@given(labels=label_sets, ms=st.lists(matchers, max_size=3))
def test_matches_a_scan_of_every_series(labels: list[Labels], ms: list[Matcher]) -> None:
    index = HeadIndex()
    for lab in labels:
        index.add(lab)
    want = [i for i, lab in enumerate(labels) if all(m.matches(lab.get(m.name)) for m in ms)]
    assert select_ids(index, ms).tolist() == want


@settings(max_examples=150, deadline=None)
@given(labels=label_sets.filter(bool), ms=st.lists(matchers, max_size=3))
def test_a_block_index_matches_a_scan_of_every_series(
    labels: list[Labels], ms: list[Matcher]
) -> None:
    """The same through a written block's mapped index (stored postings, symbols found by
    binary search); block ids are label-sorted."""
    ordered = sorted(labels)
    want = [i for i, lab in enumerate(ordered) if all(m.matches(lab.get(m.name)) for m in ms)]
    n = len(labels)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_block(
            Path(tmp),
            labels,
            np.zeros(n, dtype=np.int64),
            np.ones(n),
            np.arange(n + 1, dtype=np.int64),
            min_time=0,
            max_time=1,
        )
        block = Block.open(path)
        try:
            assert select_ids(block, ms).tolist() == want
            assert [block.labels(i) for i in range(n)] == ordered
            for name in NAMES:
                assert sorted(block.label_values_of(name)) == sorted(
                    {v for lab in labels if (v := lab.get(name))}
                )
        finally:
            block.close()
