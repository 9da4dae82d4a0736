"""Tests for cyclegan.direction: the two directions, parsed in one place."""
import json

import pytest

from cyclegan import Direction


def test_parse_reverse_and_ends():
    assert Direction.parse("AtoB") is Direction.AtoB and Direction.parse(Direction.BtoA) is Direction.BtoA
    assert Direction.AtoB.reverse is Direction.BtoA and Direction.BtoA.reverse is Direction.AtoB
    assert Direction.AtoB.ends("horse", "zebra") == ("horse", "zebra")
    assert Direction.BtoA.ends("horse", "zebra") == ("zebra", "horse")


@pytest.mark.parametrize("bad", ["sideways", "atob", "", None, 1])
def test_unknown_directions_are_one_clear_line(bad):
    with pytest.raises(ValueError, match=r"^Unknown direction .*: use 'AtoB' or 'BtoA'\.$"):
        Direction.parse(bad)


def test_reads_and_writes_as_the_plain_name():
    """The API, the CLIs and the manifests all spell directions as these strings."""
    assert Direction.AtoB == "AtoB" and f"{Direction.BtoA}" == "BtoA" and str(Direction.AtoB) == "AtoB"
    assert json.dumps({"d": Direction.BtoA}) == '{"d": "BtoA"}'
    assert {Direction.AtoB: 1}["AtoB"] == 1  # a dict keyed by Direction takes the plain name too
    assert [d.value for d in Direction] == ["AtoB", "BtoA"]
