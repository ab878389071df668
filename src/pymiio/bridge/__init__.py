"""``miio bridge``: every inventory device on an MQTT broker, with Home Assistant discovery."""
