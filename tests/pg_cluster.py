"""A private PostgreSQL server for tests that stop and start it (fault tests), leaving the shared one on 5432 alone.

Debian's server binaries (/usr/lib/postgresql/<version>/bin) on a free loopback port, trust auth, data in a fresh
temp dir; as root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).

    with PgCluster() as pg:          # initdb + start
        pg.stop("immediate")         # or "fast"
        pg.start()
        psycopg2.connect(pg.dsn)
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


class PgClusterError(RuntimeError):
    """The private server could not be set up or started (what failed and the server's log)."""


def bin_dir() -> Path:
    """The newest Debian PostgreSQL server install (initdb, pg_ctl)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise PgClusterError("no PostgreSQL server in /usr/lib/postgresql/<version>/bin (apt-get install postgresql)")
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, user: str = "postgres"):
        self.bin, self.user, self.port = bin_dir(), user, free_port()
        self.base = Path(tempfile.mkdtemp(prefix="naos-pg-"))
        self.data, self.log = self.base / "data", self.base / "server.log"
        self._as_postgres = os.geteuid() == 0  # the server refuses root; as a normal user it runs as that user
        try:
            self._init()
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise

    def _init(self) -> None:
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            # loopback only, our port, the socket in our dir; fsync off: faults here kill processes, not the machine
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = "
                       f"'{self.base}'\nfsync = off\nmax_connections = 50\n")

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres connect_timeout=5"

    def env(self, db: str = "postgres") -> dict[str, str]:
        """The NAOS_PG_* variables of this server (docs/DEPLOY.md)."""
        return {"NAOS_PG_HOST": "127.0.0.1", "NAOS_PG_PORT": str(self.port), "NAOS_PG_USER": self.user,
                "NAOS_PG_PASSWORD": "", "NAOS_PG_DB": db}

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-t", "120", "-D", str(self.data), "-l", str(self.log))

    def stop(self, mode: str = "fast") -> None:
        """fast: clients disconnected, a clean shutdown; immediate: the server quits at once (crash recovery on
        the next start), as when it is killed."""
        if mode not in ("fast", "immediate", "smart"):
            raise ValueError(f"stop mode {mode!r}: fast, immediate or smart")
        self._run("pg_ctl", "stop", "-w", "-t", "120", "-m", mode, "-D", str(self.data))

    def running(self) -> bool:
        return subprocess.run(self._cmd("pg_ctl", "status", "-D", str(self.data)), capture_output=True).returncode == 0

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def cleanup(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bin / tool), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self._as_postgres else cmd

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True, cwd=self.base)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise PgClusterError(f"{tool} {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}{log}")


def private_cluster():
    """A started PgCluster, for a fixture: skipped when it cannot start, but under CI=true that fails the test."""
    try:
        return PgCluster().__enter__()
    except (PgClusterError, OSError, KeyError) as exc:
        reason = f"private PostgreSQL server: {exc}"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)
