"""Value-list labels are distinct and each names its own value (issue 27): from `miio set`,
from Home Assistant (which sends labels) and in what status shows."""

from __future__ import annotations

import pytest

from pymiio.errors import UsageError
from pymiio.knowledge.model import Choice, Property


def _mode(*choices: tuple[int, str]) -> Property:
    return Property("dehumidifier:mode", 2, 3, "uint8", frozenset({"read", "write"}),
                    choices=tuple(Choice(v, d) for v, d in choices))


def test_repeated_empty_and_numeric_labels_are_made_distinct() -> None:
    prop = _mode((1, "Charging"), (2, ""), (4, "Charging"), (5, "charging"), (6, "15"),
                 (15, "Dry"))
    assert prop.choice_labels() == ("Charging", "2", "Charging (4)", "charging (5)", "15 (6)",
                                    "Dry")
    for choice, label in zip(prop.choices, prop.choice_labels(), strict=True):
        assert prop.convert(label) == choice.value  # each label maps back to its own value
    assert prop.label(4) == "Charging (4)" and prop.label(2) is None
    assert prop.convert("15") == 15  # a number that is a value stays that value
    assert prop.convert("Dry") == 15


def test_a_label_that_reads_as_a_number_names_its_value_when_no_value_has_it() -> None:
    prop = _mode((0, "15"), (1, "20"))
    assert prop.convert("20") == 1 and prop.convert(1) == 1
    with pytest.raises(UsageError, match="takes one of 15 \\(0\\), 20 \\(1\\)"):
        prop.convert("30")
    with pytest.raises(UsageError):
        prop.convert("quick")


def test_words_of_classic_lists_keep_working() -> None:
    prop = Property("mode", 0, 1, "string", frozenset({"read", "write"}),
                    choices=(Choice("auto", "Auto"), Choice("silent", "Auto")))
    assert prop.choice_labels() == ("Auto", "Auto (silent)")
    assert prop.convert("Auto (silent)") == "silent" and prop.convert("auto") == "auto"
    assert prop.convert("AUTO") == "auto"
