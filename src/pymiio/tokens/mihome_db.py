"""The Android Mi Home app's ``miio2.db`` (table ``devicerecord``)."""

from __future__ import annotations

from pymiio.tokens.records import Extraction, make_record
from pymiio.tokens.sqlite_memory import table_rows

COLUMNS = {"token": ("token",), "name": ("name",), "model": ("model",),
           "ip": ("localIP", "localip"), "mac": ("mac",), "device_id": ("did",)}

NO_TOKENS = ("{label} lists {count} device(s) but stores no tokens: Mi Home versions after about "
             "5.0.19 stopped keeping them there (try an iOS backup, the cache files, or an "
             "older app version)")


def read_mihome_db(data: bytes, label: str = "miio2.db") -> Extraction:
    rows = table_rows(data, label, "devicerecord", COLUMNS, "Mi Home miio2.db")
    found = Extraction()
    for row in rows:
        record = make_record(row.pop("token"), label, **row)
        if record is not None:
            found.records.append(record)
    if not found.records:
        found.notes.append(NO_TOKENS.format(label=label, count=len(rows)))
    return found
