"""The parsed-spec cache (knowledge/spec_cache.py), on the real specs in ../shared/miot-specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymiio.knowledge import spec_cache
from pymiio.knowledge.miot_spec import parse_spec_text
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.spec_store import SpecStore, load_spec_file

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"
PURIFIER = SHARED / "zhimi.airpurifier.mb3.json"
MODEL = "zhimi.airpurifier.mb3"

pytestmark = pytest.mark.skipif(not PURIFIER.is_file(), reason="../shared/miot-specs is not here")


class Counting:
    """The real parser, counting how often it runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, text: bytes, model: str) -> DeviceModel:
        self.runs += 1
        return parse_spec_text(text, model)


def _shape(model: DeviceModel) -> object:
    return (model.model, model.urn, model.properties, model.actions, model.events,
            model.services, [p.name for p in model.status_properties()])


def test_a_spec_is_parsed_once_and_then_read_from_the_cache(tmp_path: Path) -> None:
    text = PURIFIER.read_bytes()
    parse = Counting()
    first = spec_cache.parsed(text, MODEL, parse, tmp_path / "parsed")
    second = spec_cache.parsed(text, MODEL, parse, tmp_path / "parsed")
    assert parse.runs == 1
    assert _shape(second) == _shape(first) == _shape(parse_spec_text(text, MODEL))
    assert second.property("mode").label(2) == first.property("mode").label(2)
    assert second is not first  # each caller gets its own model
    [entry] = (tmp_path / "parsed").glob("*.pickle")
    assert entry.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "parsed").stat().st_mode & 0o777 == 0o700
    # another model name, or other bytes, is another entry
    spec_cache.parsed(text, "zhimi.airpurifier.mb3x", parse, tmp_path / "parsed")
    spec_cache.parsed(text + b"\n", MODEL, parse, tmp_path / "parsed")
    assert parse.runs == 3


def test_a_broken_entry_or_a_folder_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    text = PURIFIER.read_bytes()
    folder = tmp_path / "parsed"
    parse = Counting()
    spec_cache.parsed(text, MODEL, parse, folder)
    [entry] = folder.glob("*.pickle")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    assert _shape(spec_cache.parsed(text, MODEL, parse, folder)) == _shape(
        parse_spec_text(text, MODEL))
    assert parse.runs == 2
    spec_cache.parsed(text, MODEL, parse, folder)
    assert parse.runs == 2  # rewritten whole
    folder.chmod(0o777)
    spec_cache.parsed(text, MODEL, parse, folder)
    assert parse.runs == 3
    folder.chmod(0o700)


def test_the_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_cache, "MAX_ENTRIES", 3)
    text = PURIFIER.read_bytes()
    for index in range(6):
        spec_cache.parsed(text + b" " * index, MODEL, parse_spec_text, tmp_path)
    assert len(list(tmp_path.glob("*.pickle"))) == 3


def test_spec_store_and_spec_files_go_through_the_cache(private_dirs: Path) -> None:
    store = SpecStore()
    store.import_file(PURIFIER, MODEL)
    before = store.cached(MODEL)
    entries = list((private_dirs / "cache" / "parsed").glob("*.pickle"))
    assert len(entries) == 1
    after = store.cached(MODEL)
    assert before is not None and after is not None and _shape(before) == _shape(after)
    assert _shape(load_spec_file(PURIFIER, MODEL)) == _shape(after)
    assert len(list((private_dirs / "cache" / "parsed").glob("*.pickle"))) == 1


@pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="no corpus")
def test_every_corpus_spec_comes_back_from_the_cache_as_parsed(tmp_path: Path) -> None:
    checked = 0
    for path in sorted((SHARED / "corpus").glob("*.json")):
        text = path.read_bytes()
        try:
            fresh = parse_spec_text(text, "corpus.model.x")
        except Exception:
            continue  # not a spec the parser takes: nothing is cached for it either
        spec_cache.parsed(text, "corpus.model.x", parse_spec_text, tmp_path)
        cached = spec_cache.parsed(text, "corpus.model.x", parse_spec_text, tmp_path)
        assert _shape(cached) == _shape(fresh), path.name
        checked += 1
    assert checked > 1000
