"""Tokens from the user's Xiaomi account: login (password with captcha and identity checks, or
QR), the signed app API, and the account's devices. Used by ``miio tokens cloud``."""
