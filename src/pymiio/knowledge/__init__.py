"""Device knowledge: what a device's properties and actions are called, their types, units and
limits. One model (:mod:`pymiio.knowledge.model`) built from a MIoT spec (``miot_spec``) or, for
classic devices, from the catalogue; the CLI, ``watch``, the simulator and the bridge use only
the model and never ask which protocol family a device speaks."""
