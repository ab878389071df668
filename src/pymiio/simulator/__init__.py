"""pymiio's device side: simulated miIO devices on loopback, built on the protocol layer."""

from pymiio.errors import SimulatorError
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.faults import QUIRKS, Faults
from pymiio.simulator.profiles import BUILTIN, Profile, profile_for
from pymiio.simulator.server import Simulator, make_devices

__all__ = ["BUILTIN", "QUIRKS", "Faults", "Profile", "SimulatedDevice", "Simulator",
           "SimulatorError", "make_devices", "profile_for"]
