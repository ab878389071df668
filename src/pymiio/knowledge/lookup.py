"""Which description a device gets, for every front end (CLI, bridge): a spec file given for
it (``--spec``); else the description of its model, the one given (``--model``, the inventory)
before the one its ``miIO.info`` reports. A model is described by the catalogue of classic
devices first (the LAN protocol decides: a classic device with a published MIoT spec still
speaks ``get_prop``), then by a MIoT spec from the cache or miot-spec.org."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pymiio.errors import SpecError, UsageError
from pymiio.knowledge import catalogue
from pymiio.knowledge.model import DeviceModel
from pymiio.knowledge.spec_store import SpecStore, load_spec_file


def describe(model: str, store: SpecStore | None = None) -> DeviceModel:
    """The model's description, or one SpecError naming it and what to do instead."""
    found = catalogue.lookup(model)
    if found is not None:
        return found
    try:
        return (store or SpecStore()).load(model)
    except SpecError as exc:
        raise SpecError(f"no description of {model}: it is not in the catalogue of classic "
                        f"devices, and {exc}. Talk to it with `miio send`, or add a spec with "
                        "`miio spec import`") from None


def describe_device(model: str | None, info: Callable[[], Mapping[str, Any]], *,
                    spec_file: Path | None = None,
                    by_model: Callable[[str], DeviceModel] = describe) -> DeviceModel:
    """The description of one device: ``spec_file`` if given (named ``model``, else after the
    file); else ``by_model`` of ``model``, or of the model ``info()`` (its ``miIO.info``)
    reports, asked only when no model is given."""
    if spec_file is not None:
        return load_spec_file(spec_file, model or spec_file.stem)
    return by_model(model_of(model, info))


def model_of(model: str | None, info: Callable[[], Mapping[str, Any]]) -> str:
    """The model a device is described by: ``model`` if given (``--model``, the inventory),
    else the one ``info()`` (its ``miIO.info``) reports, asked only then."""
    if model is not None:
        return model
    reported = info().get("model")
    if not isinstance(reported, str):
        raise UsageError("the device does not report its model; give --model")
    return reported


# Descriptions may wait for miot-spec.org (each fetch within its deadline): they get threads of
# their own, so a stuck fetch never takes one of the default executor, which request-id
# reservation and every other ``asyncio.to_thread`` need. Daemon threads, at most DESCRIBERS
# at once per event loop (a stuck one keeps its place until its deadline): a process that is
# done (a bridge told to stop) exits at once instead of joining a fetch still waiting for its
# deadline, as an executor's threads are joined at exit. Made on first use: the blocking CLI
# never needs it (nor asyncio).
DESCRIBERS = 16
_bounds: Any = None  # event loop -> asyncio.Semaphore(DESCRIBERS)


async def describe_soon(describe: Callable[..., DeviceModel], *args: Any,
                        **options: Any) -> DeviceModel:
    """``describe(*args, **options)`` off the event loop, in a describer thread of its own."""
    import asyncio
    import contextlib
    import threading
    import weakref

    global _bounds
    if _bounds is None:
        _bounds = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    bound = _bounds.get(loop)
    if bound is None:
        bound = _bounds[loop] = asyncio.Semaphore(DESCRIBERS)
    await bound.acquire()
    answer: asyncio.Future[DeviceModel] = loop.create_future()

    def report(result: DeviceModel | None, error: BaseException | None) -> None:  # on the loop
        bound.release()
        if answer.done():  # the caller went away (cancelled)
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            outcome: tuple[DeviceModel | None, BaseException | None] = (
                describe(*args, **options), None)
        except BaseException as exc:  # handed to the awaiting task
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(report, *outcome)

    try:
        threading.Thread(target=work, name="pymiio-describe", daemon=True).start()
    except BaseException:
        bound.release()
        raise
    return await answer
