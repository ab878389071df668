"""What Home Assistant makes of MIoT devices, as data: ``bridge/ha.py`` reads these tables.

Like Xiaomi's own integration keeps device, service and property tables, the mapping is
driven by:

- :data:`DEVICES`: a device type (the spec URN's, ``air-purifier``) → the HA platform of its
  main entity and the service types that hold it (its own service first);
- :data:`FEATURES`: per platform, which property names of that service feed which keys;
- property-name tables: device classes, units, counters, entity categories;
- label words: what a value-list label means to HA (``Cool`` → hvac mode ``cool``).

Names are the bare names of the MIoT URNs (``target-temperature``); a repeated one carries its
iid (``fault-12``), which lookups strip. Classic miIO families follow the same tables
as the device type their catalogue file names (``device_type``).
"""

from __future__ import annotations

from typing import Final

# -- main entities ------------------------------------------------------------------------

# device type -> (platform, service types holding the main entity, the device's own first)
DEVICES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "air-purifier": ("fan", ("air-purifier",)),
    "air-fresh": ("fan", ("air-fresh",)),
    "fan": ("fan", ("fan",)),
    "ceiling-fan": ("fan", ("ceiling-fan", "fan")),
    "hood": ("fan", ("hood",)),
    "light": ("light", ("light",)),
    "night-light": ("light", ("night-light", "light")),
    "dimmer": ("light", ("dimmer", "light", "simple-light")),
    "outlet": ("switch", ("outlet", "switch")),
    "switch": ("switch", ("switch",)),
    "relay": ("switch", ("relay", "switch")),
    "towel-rack": ("switch", ("towel-rack",)),
    "diffuser": ("switch", ("diffuser",)),
    "fish-tank": ("switch", ("fish-tank",)),
    "mosquito-dispeller": ("switch", ("mosquito-dispeller",)),
    "electric-blanket": ("switch", ("electric-blanket",)),
    "foot-bath": ("switch", ("foot-bath",)),
    "massager": ("switch", ("massager",)),
    "pet-drinking-fountain": ("switch", ("pet-drinking-fountain",)),
    "humidifier": ("humidifier", ("humidifier",)),
    "dehumidifier": ("humidifier", ("dehumidifier",)),
    "heater": ("climate", ("heater",)),
    "air-conditioner": ("climate", ("air-conditioner",)),
    "air-condition-outlet": ("climate", ("air-conditioner", "air-condition-outlet")),
    "thermostat": ("climate", ("thermostat",)),
    "bath-heater": ("climate", ("bath-heater", "ptc-bath-heater")),
    "kettle": ("water_heater", ("kettle",)),
    "water-heater": ("water_heater", ("water-heater",)),
    "curtain": ("cover", ("curtain",)),
    "airer": ("cover", ("airer",)),
    "window-opener": ("cover", ("window-opener",)),
    "motor-controller": ("cover", ("motor-controller",)),
    "vacuum": ("vacuum", ("vacuum",)),
    "mopping-machine": ("vacuum", ("mopping-machine",)),
}

# Where a main entity cannot be built (a humidifier without a target humidity), a device with
# a writable ``on`` in that service still gets this platform, so it is never left without one.
FALLBACK: Final = "switch"

# Other services that become their own (named) entity of this platform, on any device: the
# light of an airer, a bath heater or a hood.
SECONDARY_SERVICES: Final[dict[str, str]] = {"light": "light"}

# platform -> feature -> property names in the main service, best first. Classic catalogue
# names (``power``, ``fan-speed``, ``state``) are listed next to the MIoT ones.
FEATURES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "switch": {"power": ("on", "power")},
    "fan": {"power": ("on", "power"), "speed": ("fan-level", "speed-level"),
            "preset": ("mode",), "oscillation": ("horizontal-swing", "oscillation"),
            "direction": ("wind-reverse",)},
    "light": {"power": ("on", "power"), "brightness": ("brightness",),
              "color_temp": ("color-temperature",), "color": ("color", "rgb"),
              "effect": ("mode",)},
    "humidifier": {"power": ("on", "power"), "target": ("target-humidity",), "mode": ("mode",),
                   "current": ("relative-humidity", "humidity")},
    "climate": {"power": ("on", "power"), "mode": ("mode",),
                "target": ("target-temperature",), "fan": ("fan-level",),
                "swing": ("vertical-swing", "horizontal-swing", "swing"),
                "current": ("temperature", "indoor-temperature"),
                "humidity": ("relative-humidity",), "target_humidity": ("target-humidity",)},
    "water_heater": {"power": ("on", "power"), "target": ("target-temperature",),
                     "current": ("temperature",), "mode": ("mode",)},
    "cover": {"motor": ("motor-control",), "position": ("current-position",),
              "target": ("target-position",), "status": ("status",)},
    "vacuum": {"status": ("status", "state"),
               "fan": ("fan-level", "speed-level", "suction-level", "fan-speed", "mode")},
}

# Readings a main entity may take from the device's environment service when its own service
# has none (a humidifier's current humidity).
ENVIRONMENT_SERVICES: Final = ("environment", "temperature-humidity-sensor")

# HA's vacuum commands -> action names, own service first, then any service (the classic
# family's names last). Actions with arguments never qualify.
VACUUM_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "start": ("start-sweep", "start-clean", "start-sweep-mop", "start-mop", "start-cleaning",
              "start"),
    "stop": ("stop-sweeping", "stop-clean", "stop-cleaning", "stop-mopping", "stop"),
    "pause": ("pause-sweeping", "pause", "pause-cleaning"),
    "return_home": ("start-charge", "start-charging", "back-charge", "home"),
    "locate": ("identify", "find-device", "position", "find"),
    "clean_spot": ("spot",),
}
# Services where a vacuum keeps its suction level when its own service has none.
VACUUM_FAN_SERVICES: Final = ("sweep", "clean", "vacuum-extend")
VACUUM_PAYLOADS: Final = {"start": "payload_start", "stop": "payload_stop",
                          "pause": "payload_pause", "return_home": "payload_return_to_base",
                          "locate": "payload_locate", "clean_spot": "payload_clean_spot"}

# The classic family's ``state`` codes (Roborock/rockrobo firmware) -> HA vacuum states.
CLASSIC_VACUUM_STATES: Final[dict[int, str]] = {
    1: "idle", 2: "idle", 3: "idle", 4: "cleaning", 5: "cleaning", 6: "returning",
    7: "cleaning", 8: "docked", 9: "error", 10: "paused", 11: "cleaning", 12: "error",
    13: "idle", 14: "docked", 15: "returning", 16: "cleaning", 17: "cleaning",
    18: "cleaning", 22: "docked", 23: "docked", 26: "returning", 100: "docked",
    101: "error",
}

# -- what labels mean ---------------------------------------------------------------------
# Each table maps words of a value-list label (lowercase, the first that matches wins, whole
# words) to an HA value. Labels matching none keep their own meaning (a preset, a select).

VACUUM_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("go charging", "returning"), ("returning", "returning"), ("go home", "returning"),
    ("back to", "returning"), ("recharg", "returning"),
    ("error", "error"), ("fault", "error"), ("abnormal", "error"),
    ("paused", "paused"), ("pause", "paused"),
    ("charging", "docked"), ("charged", "docked"), ("full", "docked"), ("dock", "docked"),
    ("sweeping", "cleaning"), ("mopping", "cleaning"), ("cleaning", "cleaning"),
    ("working", "cleaning"), ("busy", "cleaning"), ("sweep", "cleaning"), ("mop", "cleaning"),
    ("remote", "cleaning"), ("drying", "docked"), ("washing", "docked"),
    ("idle", "idle"), ("sleep", "idle"), ("standby", "idle"), ("stop", "idle"),
    ("wait", "idle"), ("shutdown", "idle"), ("upgrad", "idle"),
)

HVAC_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("off", "off"), ("idle", "off"), ("standby", "off"), ("auto", "auto"), ("smart", "auto"),
    ("cool", "cool"), ("cold", "cool"),
    ("refrigerat", "cool"), ("heat", "heat"), ("warm", "heat"), ("dry", "dry"),
    ("dehumidif", "dry"), ("fan", "fan_only"), ("wind", "fan_only"), ("ventilat", "fan_only"),
    ("air supply", "fan_only"), ("blow", "fan_only"),
)

WATER_HEATER_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("eco", "eco"), ("energy", "eco"), ("saving", "eco"), ("heat pump", "heat_pump"),
    ("boost", "high_demand"), ("quick", "high_demand"), ("rapid", "high_demand"),
    ("high", "high_demand"), ("performance", "performance"), ("electric", "electric"),
    ("gas", "gas"),
)

COVER_MOTOR_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("open", "open"), ("up", "open"), ("rise", "open"), ("raise", "open"),
    ("close", "close"), ("down", "close"), ("fall", "close"), ("lower", "close"),
    ("pause", "stop"), ("stop", "stop"),
)
COVER_STATUS_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("opening", "opening"), ("rising", "opening"), ("up", "opening"),
    ("closing", "closing"), ("falling", "closing"), ("down", "closing"),
    ("stop", "stopped"), ("pause", "stopped"), ("static", "stopped"), ("idle", "stopped"),
)
COVER_CLASSES: Final[dict[str, str]] = {"curtain": "curtain", "window-opener": "window",
                                        "airer": "shade"}

# -- other properties ---------------------------------------------------------------------

# MIoT units -> HA units (anything else is shown as it is, never with a device class).
UNITS: Final[dict[str, str]] = {
    "percentage": "%", "celsius": "°C", "fahrenheit": "°F", "kelvin": "K", "seconds": "s",
    "minutes": "min", "hours": "h", "hour": "h", "days": "d", "watt": "W", "lux": "lx",
    "μg/m3": "µg/m³", "µg/m3": "µg/m³", "mg/m3": "mg/m³", "pascal": "Pa", "ppm": "ppm",
    "ppb": "ppb", "L": "L", "mV": "mV", "mv": "mV", "V": "V", "A": "A", "mA": "mA",
    "kWh": "kWh", "Wh": "Wh", "km/h": "km/h", "metre": "m", "meter": "m", "kilogram": "kg",
    "ms": "ms", "μS/cm": "µS/cm", "arcdegrees": "°", "arcdegress": "°", "rpm": "rpm",
    "mm²": "mm²", "dB": "dB", "calorie": "cal", "B/s": "B/s",
}
# Where a spec leaves the unit out although the property type defines it (the MIoT standard
# pm2.5-density is in μg/m3).
DEFAULT_UNITS: Final[dict[str, str]] = {
    "pm2.5-density": "µg/m³", "pm10-density": "µg/m³", "pm1-density": "µg/m³",
    "aqi": "µg/m³",  # the classic purifier's "aqi" is its PM2.5 reading
}

# Property name -> sensor/number device class.
DEVICE_CLASSES: Final[dict[str, str]] = {
    "temperature": "temperature", "indoor-temperature": "temperature",
    "outdoor-temperature": "temperature", "current-temperature": "temperature",
    "relative-humidity": "humidity", "humidity": "humidity", "battery-level": "battery",
    "battery": "battery", "pm2.5-density": "pm25", "pm10-density": "pm10",
    "pm1-density": "pm1", "aqi": "pm25", "co2-density": "carbon_dioxide",
    "electric-power": "power", "power-value": "power", "illumination": "illuminance",
    "atmospheric-pressure": "atmospheric_pressure", "voltage": "voltage",
    "electric-current": "current", "power-consumption": "energy",
    "tvoc-density": "volatile_organic_compounds", "voc-density": "volatile_organic_compounds",
    "soil-ec": "conductivity", "weight": "weight", "air-quality-index": "aqi",
}
# Device class -> the units HA accepts for it (HA's sensor DEVICE_CLASS_UNITS, the ones MIoT
# specs can produce); None in a set: the class takes no unit.
CLASS_UNITS: Final[dict[str, frozenset[str | None]]] = {
    "temperature": frozenset({"°C", "°F", "K"}), "humidity": frozenset({"%"}),
    "moisture": frozenset({"%"}), "battery": frozenset({"%"}),
    "pm25": frozenset({"µg/m³"}), "pm10": frozenset({"µg/m³"}), "pm1": frozenset({"µg/m³"}),
    "carbon_dioxide": frozenset({"ppm"}), "carbon_monoxide": frozenset({"ppm", "mg/m³"}),
    "power": frozenset({"W", "kW", "mW", "MW", "GW", "TW", "BTU/h"}),
    "energy": frozenset({"Wh", "kWh", "MWh", "mWh", "GWh", "TWh", "MJ", "GJ", "kJ", "cal",
                         "kcal", "Mcal", "Gcal"}),
    "illuminance": frozenset({"lx"}),
    "atmospheric_pressure": frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg",
                                       "inHg", "psi", "inH₂O"}),
    "pressure": frozenset({"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi",
                           "inH₂O"}),
    "voltage": frozenset({"V", "mV", "µV", "kV", "MV"}),
    "current": frozenset({"A", "mA"}),
    "volatile_organic_compounds": frozenset({"µg/m³", "mg/m³"}),
    "conductivity": frozenset({"S/cm", "mS/cm", "µS/cm"}),
    "weight": frozenset({"kg", "g", "mg", "µg", "oz", "lb", "st"}),
    "duration": frozenset({"d", "h", "min", "s", "ms", "µs"}),
    "distance": frozenset({"km", "m", "cm", "mm", "mi", "nmi", "yd", "in", "ft"}),
    "speed": frozenset({"m/s", "km/h", "mph", "ft/s", "mm/s", "mm/d", "in/d", "in/h", "kn"}),
    "volume": frozenset({"L", "mL", "m³", "ft³", "gal", "fl. oz.", "CCF", "MCF"}),
    "aqi": frozenset({None}),
}
# Sensors read in these units are durations.
DURATION_UNITS: Final = frozenset({"d", "h", "min", "s", "ms"})

# Readings that only grow (resets aside): ``total_increasing``.
COUNTERS: Final = frozenset({
    "filter-used-time", "filter-used-flow", "use-time", "used-time", "total-use-time",
    "total-clean-time", "total-clean-area", "total-clean-times", "total-clean-count",
    "clean-count", "purify-volume", "power-consumption", "water-consumption",
    "electricity-consumption", "usage-count", "cumu-flow-in", "cumu-flow-out", "cumu-time",
    "online-time", "main-brush-used", "side-brush-used", "filter-used", "sensors-used",
    "total-working-time", "worktotaltime",
})

# Entity categories. Writable settings outside the main service are ``config`` unless their
# service is a feature of its own; read-only readings named here are ``diagnostic``.
CONFIG_SERVICES: Final = frozenset({
    "indicator-light", "physical-controls-locked", "alarm", "screen", "device-setting",
    "custom-service", "do-not-disturb", "audio", "speaker", "time", "settings",
})
CONFIG_NAMES: Final = frozenset({
    "physical-controls-locked", "child-lock", "alarm", "buzzer", "led", "indicator-light",
    "volume", "motor-reverse", "default-power-on-state", "wifi-led", "dnd",
    "wake-up-mode", "screen-brightness",
})
DIAGNOSTIC_NAMES: Final = frozenset({
    "fault", "filter-used-time", "filter-used-flow", "use-time", "used-time",
    "working-time", "firmware-revision", "serial-number", "rfid-tag", "rfid-factory-id",
    "rfid-product-id", "rfid-time", "rfid-serial-num", "rssi", "wifi-rssi", "error-code",
    "err-state", "online-time", "version", "main-brush-used", "side-brush-used",
    "filter-used", "sensors-used", "error", "country-code", "ip-address", "mac-address",
})
DIAGNOSTIC_SERVICES: Final = frozenset({"device-information", "rfid", "wifi", "clean-logs"})

# Read-only booleans -> binary_sensor device class.
BINARY_CLASSES: Final[dict[str, str]] = {
    "motion-state": "motion", "submersion-state": "moisture", "contact-state": "opening",
    "smoke-status": "smoke", "gas-status": "gas", "occupancy-status": "occupancy",
    "charging-state": "battery_charging", "fault": "problem",
}

# Property names that say little without their service: outside the main service an entity
# named by them takes the service's name too (``indicator-light:on`` → "Indicator Light").
GENERIC_NAMES: Final = frozenset({
    "on", "brightness", "mode", "status", "fault", "level", "color", "color-temperature",
    "left-time", "target-time", "volume", "switch",
})
