"""Tokens from the user's Xiaomi account: login (password with captcha and identity checks, or
QR), the signed app API, and the account's devices. Used by ``miio tokens cloud``."""

# The server regions of the app API, said once: cloud.api asks them, `miio tokens cloud --region`
# offers them (kept here, not in cloud.api, so the CLI reads them without importing httpx).
REGIONS = ("cn", "de", "us", "ru", "tw", "sg", "in", "i2")
