"""Running ``miio`` and ``miio-cli`` in-process, with click's CliRunner isolating the streams,
so the command-line code is measured by coverage and tests run without a new interpreter."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from pymiio.cli import classic, main


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


def _invoke(entry: Callable[[list[str]], int], args: tuple[str, ...],
            env: dict[str, str] | None, input: str | None) -> Outcome:
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        try:
            code = entry(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
    return Outcome(code, out.getvalue().decode(), err.getvalue().decode())


def miio(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Outcome:
    return _invoke(main.main, args, env, input)


def miio_cli(*args: str, env: dict[str, str] | None = None) -> Outcome:
    return _invoke(classic.main, args, env, None)
