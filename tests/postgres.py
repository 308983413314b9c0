"""A throwaway PostgreSQL server for tests (see the ``postgres_*`` fixtures in conftest.py).

The server runs from the Debian ``postgresql`` package's binaries, in a fresh temporary
directory, listening on 127.0.0.1 on a free port with trust authentication and fsync off.
PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (created by the Debian package) or, failing that, ``nobody``.
Every pytest-xdist worker starts its own server, in its own directory, on its own port.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
    "/usr/lib/postgresql/*/bin or on PATH. Install them with "
    "scripts/setup-debian (the README's test command runs it), or `apt-get install -y postgresql`."
)

SUPERUSER = "explore"  # database role created by initdb; trust auth, so no password
DEFAULT_DATABASE = "explore_test"

# Settings for a disposable server: durability is worthless here, speed is not.
_CONF = """
# --- explore test server ---
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
max_connections = 100
"""

_START_ATTEMPTS = 5  # a free port found by binding port 0 can be taken before the server binds it


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: the newest Debian version, else PATH."""
    needed = ("initdb", "pg_ctl", "postgres")

    def version(initdb: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(initdb).parent.parent.name))

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        bindir = Path(initdb).parent
        if all(os.access(bindir / name, os.X_OK) for name in needed):
            return bindir
    found = [shutil.which(name) for name in needed]
    if all(found) and len({Path(f).parent for f in found}) == 1:
        return Path(found[0]).parent
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None to run as ourselves (non-root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root but neither a 'postgres' nor a 'nobody' user exists")


def _wait_for_exit(pid: int | None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # alive, owned by the server account
            pass
        try:  # a zombie nobody reaps (e.g. no init in a container) has exited all the same
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (OSError, IndexError):
            pass
        time.sleep(0.02)


class PostgresServer:
    """One PostgreSQL server in its own temporary directory; ``start()`` then ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.account = _server_account()
        self.root: Path | None = None
        self.port: int | None = None
        self._running = False

    # -- paths -----------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    # -- running commands as the server account --------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=str(self.root), LC_ALL="C")
        kwargs = {}
        if self.account is not None:  # root: drop to the unprivileged account, like runuser -u
            kwargs = dict(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            **kwargs,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed with exit code {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        # Not under pytest's tmp_path: that lives in a 0700 directory of the invoking user,
        # which the unprivileged server account could not enter.
        self.root = Path(tempfile.mkdtemp(prefix="explore-pg-"))
        try:
            self.sockdir.mkdir()
            if self.account is not None:
                for path in (self.root, self.sockdir):
                    os.chown(path, self.account.pw_uid, self.account.pw_gid)
            self._run(
                "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
            )  # fmt: skip
            with open(self.datadir / "postgresql.conf", "a") as conf:
                conf.write(_CONF)
                conf.write(f"unix_socket_directories = '{self.sockdir}'\n")
            self._start_on_free_port()
            self.create_database(DEFAULT_DATABASE)
        except BaseException:
            self.stop()
            raise

    def _start_on_free_port(self) -> None:
        for attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            proc = self._run(
                "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", f"-p {self.port}",
                "-w", "-t", "60", "start", check=False,
            )  # fmt: skip
            if proc.returncode == 0:
                self._running = True
                return
            # A server that failed to come up may still have left a postmaster.pid behind.
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop", check=False)
            if "could not bind" not in self._log_tail(200) or attempt == _START_ATTEMPTS - 1:
                raise RuntimeError(
                    f"pg_ctl start failed with exit code {proc.returncode}\n"
                    f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n{self._log_tail()}"
                )

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete its directory."""
        if self.root is None:
            return
        try:
            if self._running:
                self._running = False
                pid = self._postmaster_pid()
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
                _wait_for_exit(pid)  # pg_ctl returns once postmaster.pid is gone, a moment before the exit
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- databases -------------------------------------------------------------------------
    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"  # the README's form (psycopg 3)

    def _admin_connection(self):
        import psycopg

        # CREATE/DROP DATABASE cannot run inside a transaction
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True)

    def _admin(self, statement: str) -> None:
        conn = self._admin_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh unique name unless given) and return its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still uses it (e.g. an undisposed engine)."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
