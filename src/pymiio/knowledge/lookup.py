"""Which description a model gets: the catalogue of classic devices first (the LAN protocol
decides: a classic device with a published MIoT spec still speaks ``get_prop``), then a MIoT
spec from the cache or miot-spec.org."""

from __future__ import annotations

from pymiio.errors import SpecError
from pymiio.knowledge import catalogue
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.spec_store import SpecStore


def describe(model: str, store: SpecStore | None = None) -> DeviceModel:
    """The model's description, or one SpecError naming it and what to do instead."""
    found = catalogue.lookup(model)
    if found is not None:
        return found
    try:
        return (store or SpecStore()).load(model)
    except SpecError as exc:
        raise SpecError(f"no description of {model}: it is not in the catalogue of classic "
                        f"devices, and {exc}. Talk to it with `miio send`, or add a spec with "
                        "`miio spec import`") from None
