"""Front ends: ``miio`` (subcommands) and ``miio-cli`` (the original tool's flags)."""
