"""Request ids persisted per device: unique across processes, atomic, mode 0600."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from pymiio.lan.ids import MAX_BLOCK, FileIds
from pymiio.protocol.session import MAX_ID


def test_two_stores_never_hand_out_the_same_id(tmp_path: Path) -> None:
    first, second = FileIds(tmp_path, block=10), FileIds(tmp_path, block=10)
    seen = [first.next_id(7) for _ in range(25)] + [second.next_id(7) for _ in range(25)]
    seen += [first.next_id(7, skip=100)]
    assert len(set(seen)) == len(seen)
    mode = stat.S_IMODE((tmp_path / f"{7:08x}").stat().st_mode)
    assert mode == 0o600


def test_parallel_processes_get_disjoint_ids(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from pymiio.lan.ids import FileIds;"
              "s = FileIds(Path(sys.argv[1]), block=5);"
              "print(' '.join(str(s.next_id(3)) for _ in range(40)))")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    ids = [int(x) for p in procs for x in p.communicate(timeout=60)[0].split()]
    assert len(ids) == 160 and len(set(ids)) == 160


def test_unwritable_cache_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = FileIds(blocker / "ids")  # a directory under a file cannot be created
    first = store.next_id(1)
    assert store.next_id(1) == first % 9999 + 1  # consecutive, from memory


def test_corrupt_id_file_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / f"{9:08x}").write_text("not a number")
    assert FileIds(tmp_path).next_id(9) == 1


def test_threads_preparing_and_taking_ids_never_share_one(tmp_path: Path) -> None:
    """prepare() does its disk work outside the memory mutex (so the event loop's next_id does
    not wait for it); threads racing on one device must still never get the same id."""
    import threading

    store = FileIds(tmp_path, block=3)
    taken: list[int] = []
    mutex = threading.Lock()

    def work() -> None:
        mine = []
        for _ in range(60):
            store.prepare(5)
            mine.append(store.next_id(5))
        with mutex:
            taken.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) == 360 and len(set(taken)) == 360


def test_a_busy_device_has_its_next_spare_before_it_needs_it(tmp_path: Path) -> None:
    """Issue 19: the next spare is reserved once half the block is used (``short``), so the
    call that uses up a block still finds a spare and never waits for the disk; a busy
    device's spares double in size up to MAX_BLOCK, a one-shot command's stay small."""
    store = FileIds(tmp_path, block=10)
    counter = tmp_path / f"{3:08x}"
    store.prepare(3)  # the first call: a current block and one spare, 10 ids each
    assert store.ready(3) and not store.short(3)
    assert int(counter.read_text()) == 1 + 20
    seen = [store.next_id(3) for _ in range(6)]
    assert store.short(3)  # half the block is used and a spare is missing
    store.prepare(3)
    assert not store.short(3) and int(counter.read_text()) == 1 + 20 + 20  # twice the last
    seen += [store.next_id(3) for _ in range(4)]  # the current block is used up
    assert store.ready(3)  # ... and the next call still has a spare in memory
    store.prepare(3)  # nothing is due: no write
    assert int(counter.read_text()) == 41
    sizes = []
    for _ in range(400):  # a busy device, with a timeout now and then
        if store.short(3):
            before = int(counter.read_text())
            store.prepare(3)
            sizes.append((int(counter.read_text()) - before) % MAX_ID)
        seen.append(store.next_id(3, skip=100 if len(seen) % 97 == 0 else 0))
    assert sizes[:3] == [40, 80, 160] and max(sizes) <= MAX_BLOCK
    assert len(set(seen)) == len(seen)
