"""Tests for redlua.server: private servers and clusters, against real processes only."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.crc

from redlua import server as server_mod
from redlua.server import (
    EmbeddedCluster,
    EmbeddedServer,
    ServerNotFoundError,
    ServerStartError,
    connect,
    connect_async,
    default_url,
    find_server_binary,
)

SYSTEM_PORT = 6379  # the machine's own Redis: never touched
SRC_DIR = str(Path(server_mod.__file__).resolve().parents[1])


def _alive(pid: int) -> bool:
    """Return True if pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC_DIR, path) if p)}


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture
def blocker() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_ping_over_tcp_and_unix_socket(server: EmbeddedServer) -> None:
    """A started server answers PING over TCP and over its unix socket."""
    assert server.port != SYSTEM_PORT
    assert server.unix_socket_path == os.path.join(server.directory, "server.sock")
    with server.client() as tcp, server.client(unix=True) as unix:
        assert tcp.ping() is True
        tcp.set("redlua:test:ping", "v")
        assert unix.get("redlua:test:ping") == b"v"
        tcp.delete("redlua:test:ping")


def test_urls_and_metadata(server: EmbeddedServer) -> None:
    """url, unix_url, pid, version and server_name describe the running server."""
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.unix_url == f"unix://{server.unix_socket_path}?db=0"
    assert server.is_running()
    assert server.pid is not None
    assert _alive(server.pid)
    assert server.server_name in ("valkey", "redis")
    assert server.version
    assert server.version_info[0] >= 7
    with redis.Redis.from_url(server.unix_url) as client:
        assert client.info("server")["process_id"] == server.pid


def test_start_is_idempotent(server: EmbeddedServer) -> None:
    """start() on a running server returns it unchanged."""
    pid = server.pid
    assert server.start() is server
    assert server.pid == pid


def test_two_servers_get_different_ports() -> None:
    """Two servers started side by side pick distinct free ports."""
    with EmbeddedServer() as one, EmbeddedServer() as two:
        assert one.port != two.port
        assert one.directory != two.directory
        with one.client() as c1, two.client() as c2:
            c1.set("k", "one")
            assert c2.get("k") is None


def test_stop_frees_port_and_removes_temp_dir() -> None:
    """stop() ends the process, frees the port, removes our temp dir, and is idempotent."""
    srv = EmbeddedServer().start()
    pid, port, directory = srv.pid, srv.port, srv.directory
    assert pid is not None
    assert os.path.isdir(directory)
    srv.stop()
    assert not srv.is_running()
    assert srv.pid is None
    assert not _alive(pid)
    assert not os.path.exists(directory)
    assert _port_is_free(port)
    srv.stop()


def test_callers_directory_is_kept(tmp_path: Path) -> None:
    """A directory passed by the caller holds the log and survives stop()."""
    srv = EmbeddedServer(directory=tmp_path / "data", unix_socket=False)
    with srv:
        assert srv.unix_socket_path is None
        assert srv.unix_url is None
        with pytest.raises(ValueError, match="unix_socket=False"):
            srv.client(unix=True)
    assert (tmp_path / "data" / "server.log").read_text()


def test_persistence_keeps_data_across_restart() -> None:
    """With persistence=True a key written before restart() is still there after it."""
    with EmbeddedServer(persistence=True) as srv:
        port, socket_path = srv.port, srv.unix_socket_path
        with srv.client() as client:
            client.set("durable", "yes")
        srv.restart()
        assert (srv.port, srv.unix_socket_path) == (port, socket_path)
        with srv.client(unix=True) as client:
            assert client.get("durable") == b"yes"
            assert client.config_get("appendonly")["appendonly"] == "yes"


def test_without_persistence_restart_loses_data() -> None:
    """With persistence=False restart() comes back on the same port with an empty dataset."""
    with EmbeddedServer() as srv:
        port, pid = srv.port, srv.pid
        with srv.client() as client:
            client.set("volatile", "yes")
        srv.restart()
        assert srv.port == port
        assert srv.pid != pid
        with srv.client() as client:
            assert client.get("volatile") is None
            assert client.config_get("save")["save"] == ""


def test_kill_then_start() -> None:
    """kill() ends the process abruptly, keeps the directory, and start() serves again."""
    with EmbeddedServer() as srv:
        pid = srv.pid
        assert pid is not None
        srv.kill()
        assert not srv.is_running()
        assert not _alive(pid)
        assert os.path.isdir(srv.directory)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        srv.start()
        with srv.client() as client:
            assert client.ping() is True


def test_bad_config_raises_start_error_with_log_tail() -> None:
    """An unknown config option fails at once with ServerStartError quoting the log."""
    srv = EmbeddedServer(config={"no-such-option": "1"})
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="exited with code") as info:
        srv.start()
    assert time.monotonic() - started < 5
    assert "no-such-option" in str(info.value)
    assert not srv.is_running()
    srv.stop()


def test_explicit_port_in_use_fails(blocker: socket.socket) -> None:
    """An explicit port that is taken gives ServerStartError mentioning the bind error."""
    srv = EmbeddedServer(port=blocker.getsockname()[1])
    with pytest.raises(ServerStartError, match="Address already in use"):
        srv.start()
    srv.stop()


def test_auto_port_taken_before_start_is_replaced() -> None:
    """If the automatically picked port is grabbed before start(), another one is used."""
    srv = EmbeddedServer()
    taken = srv.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with srv:
            assert srv.port != taken
            with srv.client() as client:
                assert client.ping() is True


def test_find_server_binary_honours_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """REDLUA_SERVER_BIN selects the binary, as a path or as a command on PATH."""
    default = find_server_binary()
    monkeypatch.setenv("REDLUA_SERVER_BIN", default)
    assert find_server_binary() == default
    monkeypatch.setenv("PATH", os.path.dirname(default))
    monkeypatch.setenv("REDLUA_SERVER_BIN", os.path.basename(default))
    assert find_server_binary() == default


def test_find_server_binary_missing_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A missing explicit or REDLUA_SERVER_BIN binary raises ServerNotFoundError."""
    missing = str(tmp_path / "no-such-server")
    with pytest.raises(ServerNotFoundError, match="binary argument"):
        find_server_binary(missing)
    monkeypatch.setenv("REDLUA_SERVER_BIN", missing)
    with pytest.raises(ServerNotFoundError, match="REDLUA_SERVER_BIN"):
        find_server_binary()
    with pytest.raises(ServerNotFoundError):
        EmbeddedServer()
    assert issubclass(ServerNotFoundError, RuntimeError)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_redis_server_binary_is_supported() -> None:
    """A plain redis-server binary works too and reports server_name 'redis'."""
    with EmbeddedServer(binary=shutil.which("redis-server")) as srv:
        assert srv.server_name == "redis"
        with srv.client(unix=True) as client:
            assert client.ping() is True


def test_connect_without_redis_url_starts_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """connect() with REDIS_URL unset starts one shared private server and connects to it."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = default_url()
    assert url == default_url()
    with connect() as client:
        assert client.ping() is True
        port = client.connection_pool.connection_kwargs["port"]
    assert port != SYSTEM_PORT
    assert url == f"redis://127.0.0.1:{port}/0"


def test_connect_uses_given_url(server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """connect(url) and REDIS_URL are honoured, the explicit url first."""
    monkeypatch.setenv("REDIS_URL", server.url)
    assert default_url() == server.url
    with connect(server.unix_url) as client:
        assert client.connection_pool.connection_kwargs["path"] == server.unix_socket_path
        assert client.ping() is True
    with connect(decode_responses=True) as client:
        assert client.connection_pool.connection_kwargs["port"] == server.port
        assert client.echo("hi") == "hi"


def test_connect_async(server: EmbeddedServer) -> None:
    """connect_async(url) returns a working asyncio client."""

    async def main() -> bytes | None:
        client = connect_async(server.url)
        try:
            await client.set("async-key", "v")
            return await client.get("async-key")
        finally:
            await client.aclose()

    assert asyncio.run(main()) == b"v"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_orphan_when_parent_dies(sig: signal.Signals) -> None:
    """When the owning Python process dies by SIGKILL/SIGTERM the server and temp dir go too."""
    code = textwrap.dedent(
        """
        import time
        from redlua.server import EmbeddedServer
        srv = EmbeddedServer().start()
        print(srv.pid, srv.directory, flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=_child_env())
    assert child.stdout is not None
    try:
        pid_text, directory = child.stdout.readline().decode().split()
        pid = int(pid_text)
        assert _alive(pid)
        child.send_signal(sig)
        child.wait(10)
        assert _wait_until(lambda: not _alive(pid)), f"server {pid} outlived its parent"
        assert _wait_until(lambda: not os.path.exists(directory))
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def test_server_started_in_worker_thread_outlives_the_thread() -> None:
    """A server started from a thread that then exits keeps running until stop()."""
    started: list[EmbeddedServer] = []
    worker = threading.Thread(target=lambda: started.append(EmbeddedServer().start()))
    worker.start()
    worker.join()
    (srv,) = started
    try:
        time.sleep(0.3)
        assert srv.is_running()
        with srv.client() as client:
            assert client.ping() is True
    finally:
        srv.stop()


def test_atexit_stops_servers() -> None:
    """A script that exits without stop() still leaves no server or temp dir behind."""
    code = textwrap.dedent(
        """
        from redlua.server import EmbeddedServer
        srv = EmbeddedServer(persistence=True).start()
        print(srv.pid, srv.directory, flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env=_child_env(),
        check=True,
        timeout=30,
    )
    pid_text, directory = done.stdout.decode().split()
    assert not _alive(int(pid_text))
    assert not os.path.exists(directory)


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(masters=3) as clu:
        yield clu


def _key_for_slot_range(lo: int, hi: int) -> str:
    return next(f"k{i}" for i in range(100000) if lo <= redis.crc.key_slot(f"k{i}".encode()) <= hi)


@pytest.mark.cluster
def test_cluster_reaches_ok_state(cluster: EmbeddedCluster) -> None:
    """Every node of a 3-master cluster reports cluster_state:ok and the expected slot split."""
    assert len(cluster.nodes) == 3
    assert cluster.url == f"redis://127.0.0.1:{cluster.nodes[0].port}"
    assert cluster.startup_nodes == [("127.0.0.1", node.port) for node in cluster.nodes]
    for node in cluster.nodes:
        with node.client(decode_responses=True) as client:
            assert "cluster_state:ok" in client.execute_command("CLUSTER", "INFO")
    with cluster.nodes[1].client() as client:
        slots = sorted((lo, hi) for lo, hi, *_ in client.execute_command("CLUSTER", "SLOTS"))
    assert slots == [(0, 5460), (5461, 10922), (10923, 16383)]


@pytest.mark.cluster
def test_cluster_keys_land_on_all_masters(cluster: EmbeddedCluster) -> None:
    """A RedisCluster client routes keys to each of the three masters."""
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
    with cluster.client() as rc:
        for node, (lo, hi) in zip(cluster.nodes, ranges, strict=True):
            key = _key_for_slot_range(lo, hi)
            rc.set(key, node.port)
            with node.client() as direct:
                assert direct.get(key) == str(node.port).encode()


@pytest.mark.cluster
def test_cluster_eval_with_hash_tags(cluster: EmbeddedCluster) -> None:
    """EVAL touching two keys that share a {tag} runs atomically on their node."""
    script = (
        "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[2]) "
        "return redis.call('MGET', KEYS[1], KEYS[2])"
    )
    with cluster.client() as rc:
        assert rc.eval(script, 2, "{user:1}:a", "{user:1}:b", "x", "y") == [b"x", b"y"]


@pytest.mark.cluster
def test_cluster_async_client(cluster: EmbeddedCluster) -> None:
    """async_client() returns a working asyncio RedisCluster."""

    async def main() -> list[bytes | None]:
        rc = cluster.async_client()
        try:
            for i in range(10):
                await rc.set(f"async:{i}", i)
            return [await rc.get(f"async:{i}") for i in range(10)]
        finally:
            await rc.aclose()

    assert asyncio.run(main()) == [str(i).encode() for i in range(10)]


@pytest.mark.cluster
@pytest.mark.slow
def test_cluster_with_replicas() -> None:
    """With replicas=3 each master gets one in-sync replica that serves READONLY reads."""
    started = time.monotonic()
    with EmbeddedCluster(masters=3, replicas=3) as clu:
        assert time.monotonic() - started < 15
        masters, replicas = clu.nodes[:3], clu.nodes[3:]
        with clu.client() as rc:
            key = _key_for_slot_range(0, 5460)
            rc.set(key, "replicated")
        for master, replica in zip(masters, replicas, strict=True):
            with replica.client() as client:
                info = client.info("replication")
                assert info["role"] == "slave"
                assert info["master_port"] == master.port
                assert info["master_link_status"] == "up"
        with replicas[0].client() as client:
            client.execute_command("READONLY")
            assert _wait_until(lambda: client.get(key) == b"replicated", 5)
