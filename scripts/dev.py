"""`make dev`: `dagster dev ARGS` that stops within a few seconds of Ctrl-C (every process it started gone).

`dagster dev` alone can take a minute or more: it waits up to 60 s each for its webserver and daemon, the daemon up to 30 s
for each of its threads (a sensor tick calling the code server), a run's step hears the interrupt only when it next
yields, and a code server left behind waits for its heartbeat timeout (30-45 s) before it exits. Here it took 4-8 s
idle and 7-14 s with a run in progress on a busy 2-core machine; 40-60 s was seen.

Here `dagster dev` runs in a process group of its own (every Dagster process it starts is in it: webserver, daemon,
code servers, run workers). The first SIGINT, SIGTERM or SIGHUP this wrapper gets is forwarded to the whole group as
the SIGINT a terminal's Ctrl-C would have sent, and every process starts its orderly shutdown at once. `dagster dev`
gets NAOS_DEV_STOP_GRACE_S (default 5) seconds to finish it; the processes still there one second after it has
exited (or after the grace) are killed. A second Ctrl-C kills the group at once. Should this wrapper die, `dagster dev`
gets a SIGTERM (Linux: PR_SET_PDEATHSIG) and stops as on Ctrl-C.

A run in progress ends failed (if its worker is killed before it says so, the daemon's run monitoring marks it failed
the next time `make dev` starts).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.05
STRAGGLERS_S = 1.0  # after `dagster dev` itself has exited, what its children still get


def grace_s() -> float:
    return float(os.environ.get("NAOS_DEV_STOP_GRACE_S", "5"))


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the wrapper dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:  # not Linux: the wrapper's own handlers still stop the group
        pass


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command) of the live processes in process group pgid (Linux /proc; elsewhere [] or [(pgid, "?")])."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [(pgid, "?")]
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, ...
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry.name), cmd))
    return sorted(found)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _say(msg: str) -> None:
    print(f"naos dev: {msg}", file=sys.stderr, flush=True)


def stop(proc: subprocess.Popen, pgid: int, started: float, forced: list[int]) -> list[tuple[int, str]]:
    """Wait for the group to leave after the interrupt; kill what is left after the grace. The killed processes."""
    deadline = started + grace_s()
    leader_gone: float | None = None
    while time.monotonic() < deadline and not forced:
        if proc.poll() is not None and leader_gone is None:
            leader_gone = time.monotonic()
        if not group_members(pgid):
            break
        if leader_gone is not None and time.monotonic() - leader_gone >= STRAGGLERS_S:
            break
        time.sleep(POLL_S)
    left = group_members(pgid)
    if left:
        _signal_group(pgid, signal.SIGKILL)
    end = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < end:
        proc.poll()
        time.sleep(POLL_S)
    proc.poll()
    return left


def main(argv: list[str]) -> int:
    cmd = [sys.executable, "-m", "dagster", "dev", *argv]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, process_group=0,
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    pgid = proc.pid
    requested: list[int] = []  # the signals received, in order
    forced: list[int] = []

    def on_signal(signo: int, _frame) -> None:
        requested.append(signo)
        if len(requested) == 1:  # what Ctrl-C in a terminal sends every process of the foreground group
            _signal_group(pgid, signal.SIGINT)
        else:  # asked again: no more waiting
            forced.append(signo)
            _signal_group(pgid, signal.SIGKILL)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    while not requested and proc.poll() is None:
        time.sleep(POLL_S * 4)
    started = time.monotonic()
    if not requested:  # dagster dev ended by itself: take what it left behind down with it
        _say(f"dagster dev exited with code {proc.returncode}")
        _signal_group(pgid, signal.SIGINT)
    left = stop(proc, pgid, started, forced)
    seconds = time.monotonic() - started
    if left:
        names = ", ".join(f"{pid} {cmd[:60]}" for pid, cmd in left)
        _say(f"stopped in {seconds:.1f}s; still running after the grace, killed: {names}")
    elif requested:
        _say(f"stopped in {seconds:.1f}s")
    return 0 if requested else (proc.returncode or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
