"""``miio spec fetch|import|show``: the MIoT spec cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pymiio.cli.common import json_option
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.main import SuggestingGroup
from pymiio.cli.output import print_json, print_table, say
from pymiio.knowledge.model import DeviceModel, argument_name


@click.group(cls=SuggestingGroup)
def spec() -> None:
    """MIoT specs: fetch them from miot-spec.org (PYMIIO_MIOT_SPEC_URL), import, show."""


@spec.command("fetch")
@click.argument("model")
@json_option
def fetch(model: str, as_json: bool) -> None:
    """Download MODEL's spec into the cache (the newest released one)."""
    from pymiio.knowledge.spec_store import SpecStore

    def run() -> None:
        store = SpecStore()
        parsed = store.fetch(model)
        _summary(parsed, str(store.path(model)), as_json)

    run_guarded(run, debug_enabled())


@spec.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", required=True, help="The model the spec describes.")
@json_option
def import_spec(file: Path, model: str, as_json: bool) -> None:
    """Put a local spec FILE in the cache as MODEL's."""
    from pymiio.knowledge.spec_store import SpecStore

    def run() -> None:
        store = SpecStore()
        parsed = store.import_file(file, model)
        _summary(parsed, str(store.path(model)), as_json)

    run_guarded(run, debug_enabled())


@spec.command("show")
@click.argument("model_or_file")
@json_option
def show(model_or_file: str, as_json: bool) -> None:
    """Services, properties (format, access, unit, range or list) and actions of a model (its
    entry in the catalogue of classic devices, else its spec from the cache or miot-spec.org),
    or of a spec file."""
    from pymiio.knowledge.lookup import describe
    from pymiio.knowledge.spec_store import load_spec_file

    def run() -> None:
        path = Path(model_or_file)
        parsed = (load_spec_file(path, path.stem) if path.suffix == ".json" or path.exists()
                  else describe(model_or_file))
        if as_json:
            print_json(as_data(parsed))
        else:
            print_table(f"{parsed.model}: properties", ("name", "iid", "format", "access",
                                                        "unit", "range / values"),
                        [(p.name, p.key, p.format, "".join(sorted(a[0] for a in p.access)),
                          p.unit or "", p.constraint()) for p in parsed.properties])
            print_table(f"{parsed.model}: actions", ("name", "iid", "in", "out"),
                        [(a.name, a.key, ", ".join(p.name for p in a.inputs),
                          ", ".join(p.name for p in a.outputs)) for a in parsed.actions])
            if parsed.events:
                print_table(f"{parsed.model}: events", ("name", "iid", "arguments"),
                            [(e.name, e.key, ", ".join(argument_name(p) for p in e.arguments))
                             for e in parsed.events])
        for note in parsed.notes:
            say(f"note: {note}", err=True)

    run_guarded(run, debug_enabled())


def as_data(model: DeviceModel) -> dict[str, Any]:
    return {
        "model": model.model, "urn": model.urn, "description": model.description,
        "services": [{"siid": s.siid, "name": s.name, "description": s.description}
                     for s in model.services],
        "properties": [{"name": p.name, "siid": p.siid, "piid": p.piid, "format": p.format,
                        "access": sorted(p.access), "unit": p.unit,
                        "range": list(p.range) if p.range else None,
                        "values": [{"value": c.value, "description": c.description}
                                   for c in p.choices] or None,
                        "description": p.description} for p in model.properties],
        "actions": [{"name": a.name, "siid": a.siid, "aiid": a.aiid,
                     "in": [p.name for p in a.inputs], "out": [p.name for p in a.outputs],
                     "description": a.description} for a in model.actions],
        "events": [{"name": e.name, "siid": e.siid, "eiid": e.eiid,
                    "arguments": [p.name for p in e.arguments]} for e in model.events],
        "notes": list(model.notes),
    }


def _summary(parsed: DeviceModel, path: str, as_json: bool) -> None:
    if as_json:
        print_json({"model": parsed.model, "urn": parsed.urn, "path": path,
                    "properties": len(parsed.properties), "actions": len(parsed.actions)})
    else:
        say(f"{parsed.model}: {len(parsed.properties)} properties, "
            f"{len(parsed.actions)} actions ({parsed.urn}) -> {path}")
