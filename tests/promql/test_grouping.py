"""assign_groups: the same groups, in the same order, as grouping label sets one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model.labels import Labels
from kubeprom.promql.eval.aggregate import assign_groups, group_labels

NAMES = ["__name__", "a", "b", "node", "pod"]
# Values spelled like label names: a tuple search must not take them for names.
VALUES = st.sampled_from(["", "x", "y", "node", "a", "__name__"])
label_sets = st.lists(
    st.dictionaries(st.sampled_from(NAMES), VALUES).map(lambda d: Labels(d.items())),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    labels=label_sets,
    grouping=st.lists(st.sampled_from(NAMES), max_size=3).map(tuple),
    without=st.booleans(),
)
def test_groups_match_one_by_one_grouping(
    labels: list[Labels], grouping: tuple[str, ...], without: bool
) -> None:
    want: dict[Labels, int] = {}
    want_ids = [want.setdefault(group_labels(lab, grouping, without), len(want)) for lab in labels]
    gid, groups = assign_groups(labels, grouping, without)
    assert gid.tolist() == want_ids
    assert groups == list(want)
