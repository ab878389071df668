"""A classic device family is one catalogue file plus, for the simulator, built-in profiles:
which profile simulates a catalogue model is derived from the catalogue, never listed. Every
model of the catalogue, simulated, answers every property its catalogue entry reads."""

from __future__ import annotations

from pymiio import AsyncDevice, RetryPolicy
from pymiio.knowledge import catalogue
from pymiio.knowledge.model import Read, Setter, Write
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.profiles import BUILTIN, profile_for

from .addresses import NET
from .conftest import TOKEN

FAST = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.03)


def _reads(model: str) -> set[str]:
    described = catalogue.lookup(model)
    assert described is not None
    return {p.read.name for p in described.properties
            if p.read is not None and p.read.method == "get_prop"}


def test_each_catalogue_model_gets_a_profile_of_its_own_family() -> None:
    for model in catalogue.known_models():
        if "*" in model:
            continue  # a pattern ("yeelink.light.*"): its concrete models are tried below
        family = catalogue.family_of(model)
        profile = profile_for(model)
        assert profile.model == model and profile.family != "miot", model
        assert catalogue.family_of(next(p.model for p in BUILTIN.values()
                                        if p.behaviour == profile.behaviour)) == family, model
        assert _reads(model) <= profile.props.keys(), model
    # each plug generation keeps its own firmware's names
    assert "on" in profile_for("chuangmi.plug.v1").props
    assert "wifi_led" in profile_for("chuangmi.plug.v3").props
    assert "power" in profile_for("chuangmi.plug.hmi205").props


def test_a_family_says_which_device_type_it_behaves_as() -> None:
    for name, family in catalogue.families().items():
        described = catalogue.build(family, family["models"][0])
        assert described.services[0].type == family["device_type"] != "", name
        assert described.device_type is None  # the MIoT contract: classic devices have none


async def test_every_simulated_catalogue_model_answers_what_its_entry_reads() -> None:
    models = sorted({m for m in catalogue.known_models() if "*" not in m}
                    | {p.model for p in BUILTIN.values() if p.family != "miot"})
    assert 40 < len(models) < 250
    fleet = [make_devices(f"{NET}.141.{n}", token=TOKEN, profile=model)[0]
             for n, model in enumerate(models, start=1)]
    async with Simulator(fleet):
        for device in fleet:
            described = catalogue.lookup(device.profile.model)
            assert described is not None
            async with AsyncDevice(device.host, TOKEN, policy=FAST) as client:
                readings = await client.status(described)
            unset = {name for name, value in device.profile.props.items()
                     if value is None or value == ""}  # what firmware reports as no value
            for reading in readings:
                raw = reading.prop.read.name if reading.prop.read else None
                if raw not in unset:
                    assert reading.error is None, (device.profile.model, reading)
                    assert reading.value is not None, (device.profile.model, raw)


def test_how_a_classic_property_is_read_and_written_is_typed() -> None:
    v1, m1 = catalogue.lookup("chuangmi.plug.v1"), catalogue.lookup("chuangmi.plug.m1")
    assert v1 is not None and m1 is not None
    power = v1.property("power")
    assert power.read == Read("get_prop", name="on", codec="bool-or-onoff")
    assert power.write == Write(on_off=(Setter("set_on", []), Setter("set_off", [])),
                                codec="bool-or-onoff")
    assert m1.property("power").write == Write(Setter("set_power", ["$"]), codec="onoff")
    vacuum = catalogue.lookup("roborock.vacuum.s5")
    assert vacuum is not None
    getters = {p.read.method for p in vacuum.properties if p.read is not None}
    assert getters == {"get_status", "get_consumable"}
    assert any(p.read is not None and p.read.left_of for p in vacuum.properties)
    actions = {a.name: a for a in vacuum.actions}
    assert actions["start"].call == Setter("app_start", []) and actions["start"].toggles is None
    assert m1.action("toggle").toggles == "power" and m1.action("toggle").call is None
