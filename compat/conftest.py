"""Starts the real potluck binary for the horde-sdk compatibility tests.

horde-sdk reads the server's address from the environment variable AI_HORDE_URL once, when
it is first imported, so the server has to be up before pytest imports the test modules. The
server is therefore started in `pytest_sessionstart` (before collection) and handed to the
tests through the session fixture `potluck`; it is stopped when the session ends.

Environment:
  POTLUCK_BIN  the potluck binary (default: <workspace>/target/debug/potluck, or under
               $CARGO_TARGET_DIR when that is set). scripts/test-compat.sh sets it.
  POTLUCK_WORKER_BIN  the potluck-worker binary (default: next to potluck).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

WORKSPACE = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"potluck listening on (http://\S+)")
API_KEY_LINE = re.compile(r"API key[^:\n]*:\s*([A-Za-z0-9_-]{22})\s*$", re.MULTILINE)
START_TIMEOUT_SECS = 60
FIXTURES = WORKSPACE / "crates" / "infer" / "fixtures"
MODEL_FILE = FIXTURES / "tiny-llama.q8_0.gguf"
MODEL_DIR = FIXTURES / "tiny-llama"
MODEL_REFERENCE = Path(__file__).resolve().parent / "model-reference.json"
# The fixture model's context; the worker may not announce more.
MAX_CONTEXT = "512"
SUBMITTED = re.compile(r"submitted job=(\S+) tokens=(\d+) reward=([0-9.]+)")

# horde-sdk settings that would redirect it away from the server under test, or replace every
# API key the tests pass with another one. Cleared before horde-sdk is imported.
for _name in ("AI_HORDE_DEV_URL", "AI_HORDE_DEV_APIKEY"):
    os.environ.pop(_name, None)
# horde-sdk wraps calls in logfire spans; without this, every first call warns that logfire is
# not configured. Nothing is sent anywhere either way.
os.environ.setdefault("LOGFIRE_IGNORE_NO_CONFIG", "1")


def potluck_binary() -> Path:
    configured = os.environ.get("POTLUCK_BIN")
    if configured:
        return Path(configured).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", WORKSPACE / "target"))
    if not target.is_absolute():
        target = WORKSPACE / target
    return target / "debug" / "potluck"


def potluck_worker_binary() -> Path:
    configured = os.environ.get("POTLUCK_WORKER_BIN")
    if configured:
        return Path(configured).resolve()
    return potluck_binary().parent / "potluck-worker"


def clean_env() -> dict[str, str]:
    """The environment without the caller's POTLUCK_* settings, which would reconfigure the
    programs under test (a POTLUCK_PUBLIC_URL would change every upload and image URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POTLUCK_")}
    env["NO_COLOR"] = "1"
    return env


def wait_for(what: str, check, timeout: float, describe=lambda: "") -> None:
    """Polls `check` until it is true, or fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout} s\n{describe()}")


@dataclass
class Potluck:
    """A running potluck server on an ephemeral port with its own SQLite database."""

    binary: Path
    workdir: Path
    process: subprocess.Popen | None = None
    base_url: str = ""
    log_path: Path = field(init=False)
    # Where to listen; a fixed port lets a test restart the server where clients expect it.
    listen: str = "127.0.0.1:0"
    extra_args: list[str] = field(default_factory=list)
    # A database of its own (SQLite in workdir) rather than the session's.
    own_database: bool = False
    # An admin's key, made on the first grant; a moderator's, made when first asked for.
    admin_key: str | None = None
    moderator: str | None = None

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "server.log"

    @property
    def database_url(self) -> str:
        # scripts/test.sh runs the suite a second time on a fresh PostgreSQL database.
        configured = None if self.own_database else os.environ.get("POTLUCK_COMPAT_DATABASE_URL")
        return configured or f"sqlite://{self.workdir / 'potluck.db'}"

    @property
    def api_url(self) -> str:
        """The base URL horde-sdk wants in AI_HORDE_URL (it appends `v2/...`)."""
        return f"{self.base_url}/api/"

    def start(self) -> None:
        if not self.binary.is_file():
            raise RuntimeError(
                f"potluck binary not found at {self.binary}: build it with `cargo build -p server` "
                "or point POTLUCK_BIN at it"
            )
        # Only the flags below configure the server.
        env = clean_env()
        env.setdefault("RUST_LOG", "info")
        command = [
            str(self.binary),
            "--listen", self.listen,
            "--database-url", self.database_url,
            "--site-root", str(self.workdir / "site"),
            # The sizes of the models the tests name (their rewards follow the reference).
            "--model-reference", str(MODEL_REFERENCE),
            # The suite polls and queues faster than a client should; the limits have their own
            # tests in the server's suite.
            "--rate-limits", "off",
            *self.extra_args,
        ]
        # Restarts append to the same log; the listening line looked for is the newest.
        self._log_start = len(self.log_text())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log_text()[self._log_start:])
            if found:
                self.base_url = found.group(1).rstrip("/")
                return
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"potluck exited with status {self.process.returncode} before listening:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"potluck did not print its listening line in {START_TIMEOUT_SECS} s:\n" + self.log_tail())

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when the machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def create_user(self, name: str, *, moderator: bool = False, trusted: bool = False, admin: bool = False) -> str:
        """Creates an account with the operator CLI and returns its API key."""
        command = [str(self.binary), "--database-url", self.database_url, "admin", "create-user", "--name", name]
        if moderator:
            command.append("--moderator")
        if trusted:
            command.append("--trusted")
        if admin:
            command.append("--admin")
        done = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=clean_env(), timeout=60
        )
        assert done.returncode == 0, f"admin create-user failed:\n{done.stdout}\n{done.stderr}"
        found = API_KEY_LINE.search(done.stdout)
        assert found, f"no API key in the output of admin create-user:\n{done.stdout}"
        return found.group(1)

    def register(self, username: str) -> tuple[str, str]:
        """Pseudonymous registration over the API (a Potluck addition, so not in horde-sdk).

        Returns (`name#id`, API key).
        """
        answer = requests.post(f"{self.base_url}/api/v2/register", json={"username": username}, timeout=30)
        assert answer.status_code == 201, f"register answered {answer.status_code}: {answer.text}"
        body = answer.json()
        assert len(body["apikey"]) == 22, body
        return body["username"], body["apikey"]

    def moderator_key(self) -> str:
        """A moderator's key: moderators see what only owners and they see of a worker (whether
        it is paused, its suspicion)."""
        if self.moderator is None:
            self.moderator = self.create_user("compat-moderator-viewer", moderator=True)
        return self.moderator

    def grant(self, apikey: str, kudos: float) -> None:
        """Gives the account of `apikey` kudos, as an admin does: far above the balance floor
        (14 kudos), so that what a test moves shows in the balance as it is."""
        if self.admin_key is None:
            self.admin_key = self.create_user("compat-granter", admin=True)
        found = requests.get(f"{self.base_url}/api/v2/find_user", headers={"apikey": apikey}, timeout=30)
        assert found.status_code == 200, found.text
        changed = requests.put(
            f"{self.base_url}/api/v2/users/{found.json()['id']}",
            headers={"apikey": self.admin_key},
            json={"kudos": kudos},
            timeout=30,
        )
        assert changed.status_code == 200, changed.text


@dataclass
class WorkerProcess:
    """A running potluck-worker, logging to a file."""

    args: list[str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = clean_env()
        env["POTLUCK_LOG"] = "info"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(potluck_worker_binary()), *self.args, "--no-status"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rewards(self) -> list[float]:
        return [float(m.group(3)) for m in SUBMITTED.finditer(self.log_text())]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Workers:
    """Starts workers for a test and kills whatever is left of them after it."""

    workdir: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, *args: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), self.workdir / f"worker-{len(self.started)}.log").start()
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log_text()[-4000:]}" for w in self.started)


@pytest.fixture
def workers(tmp_path: Path):
    pool = Workers(tmp_path)
    yield pool
    for worker in pool.started:
        worker.stop()
    # Captured, so shown only when the test failed.
    print(pool.logs())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_worker(server: Potluck, key: str, name: str, model_name: str) -> list[str]:
    return [
        "--server", server.base_url, "--api-key", key, "--name", name,
        "--model", str(MODEL_FILE), "--model-name", model_name, "--max-context-length", MAX_CONTEXT,
    ]


def online(server: Potluck, name: str) -> bool:
    workers = requests.get(f"{server.base_url}/api/v2/workers", timeout=10).json()
    return any(w["name"] == name and w["online"] for w in workers)


def kudos_hundredths(server: Potluck, key: str) -> int:
    user = requests.get(f"{server.base_url}/api/v2/find_user", headers={"apikey": key}, timeout=10).json()
    return round(user["kudos"] * 100)


def queue(server: Potluck, prompt: str, params: dict, model: str, key: str = "0000000000") -> str:
    answer = requests.post(
        f"{server.base_url}/api/v2/generate/text/async",
        headers={"apikey": key},
        json={"prompt": prompt, "params": params, "models": [model]},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def status(server: Potluck, request_id: str) -> dict:
    return requests.get(f"{server.base_url}/api/v2/generate/text/status/{request_id}", timeout=10).json()


def local_generation(prompt: str, params: dict, seed: int) -> str:
    """What the engine gives for this job with this seed, run by `potluck-worker generate`."""
    done = subprocess.run(
        [str(potluck_worker_binary()), "generate", "--model", str(MODEL_FILE), "--max-context-length", MAX_CONTEXT,
         "--prompt", prompt, "--params", json.dumps(params), "--seed", str(seed)],
        capture_output=True, text=True, env=clean_env(), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout



_server: Potluck | None = None


def _stop_server() -> None:
    if _server is not None:
        _server.stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    global _server
    workdir = Path(tempfile.mkdtemp(prefix="potluck-compat-"))
    server = Potluck(binary=potluck_binary(), workdir=workdir)
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    atexit.register(_stop_server)
    server.start()
    _server = server
    os.environ["AI_HORDE_URL"] = server.api_url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_server()


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    if _server is None:
        return
    terminalreporter.write_line(f"potluck server: {_server.binary} at {_server.base_url} on {_server.database_url}")
    if exitstatus != 0:
        terminalreporter.write_sep("-", "potluck server log (last lines)")
        terminalreporter.write_line(_server.log_tail())


@pytest.fixture(scope="session")
def potluck() -> Potluck:
    """The potluck server under test (started at session start, see the module docstring)."""
    assert _server is not None and _server.process is not None
    assert _server.process.poll() is None, "potluck has exited:\n" + _server.log_tail()
    return _server


@pytest.fixture(scope="session")
def worker_owner(potluck: Potluck) -> str:
    """API key of the account that runs the workers, made with the operator CLI. Trusted, so
    that its rewards are paid at once (an untrusted owner's are held until checked)."""
    key = potluck.create_user("compat-worker-owner", trusted=True)
    potluck.grant(key, 1000)
    return key


@pytest.fixture(scope="session")
def requester(potluck: Potluck) -> tuple[str, str]:
    """(`name#id`, API key) of a pseudonymous account registered over the API."""
    alias, key = potluck.register("compat-requester")
    potluck.grant(key, 1000)
    return alias, key
