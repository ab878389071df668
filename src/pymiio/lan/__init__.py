"""Talking to devices on the LAN: one UDP endpoint, sessions, request ids, discovery, and the
async (``AsyncDevice``) and sync (``Device``) faces."""
