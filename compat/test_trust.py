"""Verification with real processes: untrusted workers serve the engine's tiny fixture model on
Mesa's lavapipe, a trusted `potluck-worker` checks their results by scoring them, and the
server pays, holds, refunds and pauses accordingly. One honest worker, and four cheats:

- junk: a client that answers every job with random words (and reports no token ids, as a
  third-party worker would: the checker tokenizes the text);
- another model: `potluck-worker` running tiny-qwen2 under tiny-llama's name;
- a sampler that ignores top-k and top-p: `potluck-worker` behind a proxy that strips those
  limits from the jobs it is given;
- a replay: `potluck-worker` behind a proxy that submits its first result again for every
  later job.

Each serves JOBS requests (named for it alone, so nobody else takes them) from a registered
requester; the test prints each one's checks and detection rate. Runs on SQLite only: the
store's behaviour on PostgreSQL is covered by the Rust tests.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import FIXTURES, MODEL_FILE, Potluck, Workers, potluck_binary, wait_for

MODEL = "tiny-llama"
OTHER_MODEL_FILE = FIXTURES / "tiny-qwen2.q8_0.gguf"
JOBS = 50
# The request's own sampling rules, which an honest worker keeps and the checker checks. The
# fixture's random weights make very peaked distributions: at a low temperature nearly every draw
# falls in the top few tokens anyway, and a sampler that ignores the limits would write the same.
PARAMS = {"max_length": 16, "max_context_length": 256, "temperature": 3.0, "top_k": 5, "top_p": 0.8}
WORDS = "river lamp copper yes seven orbit quiet maple drum silver north crane".split()

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("POTLUCK_COMPAT_DATABASE_URL")),
    reason="real-process verification runs once, on SQLite (the store tests cover PostgreSQL)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Potluck:
    workdir = tmp_path_factory.mktemp("trust")
    potluck = Potluck(
        binary=potluck_binary(),
        workdir=workdir,
        own_database=True,
        # A cheater is paused at its JOBS-th failure: every one of its jobs is checked first.
        extra_args=["--pause-after-failed-checks", str(JOBS), "--sweep-interval-ms", "500",
                    "--default-concurrency", "1000"],
    )
    potluck.start()
    yield potluck
    potluck.stop()


def api(server: Potluck, method: str, path: str, key: str | None = None, body: dict | None = None) -> dict:
    answer = requests.request(
        method, f"{server.base_url}/api/v2{path}", headers={"apikey": key} if key else {}, json=body, timeout=30
    )
    assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json()


def engine_args(server_url: str, key: str, name: str, model: Path = MODEL_FILE) -> list[str]:
    return [
        "--server", server_url, "--api-key", key, "--name", name,
        "--model", str(model), "--model-name", MODEL, "--max-context-length", "256",
    ]


def worker_of(server: Potluck, name: str) -> dict:
    found = [w for w in api(server, "GET", "/workers?type=text") if w["name"] == name]
    if not found:
        return {}
    # As a moderator: whether a worker is paused is for its owner and moderators to see.
    return api(server, "GET", f"/workers/{found[0]['id']}", server.moderator_key())


def me(server: Potluck, key: str) -> dict:
    return api(server, "GET", "/find_user", key)


class Proxy:
    """An HTTP proxy between one worker and the server that changes what passes: `strip`
    removes the sampling limits from the jobs the worker pops; `replay` submits the worker's
    first result again for every later job."""

    def __init__(self, upstream: str, *, strip: bool = False, replay: bool = False) -> None:
        self.upstream, self.strip, self.replay = upstream, strip, replay
        self.first_result: dict | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.forward(None)

            def do_POST(self) -> None:
                self.forward(self.rfile.read(int(self.headers.get("content-length", 0))))

            def do_PUT(self) -> None:
                self.do_POST()

            def forward(self, body: bytes | None) -> None:
                if body and self.path.endswith("/generate/text/submit"):
                    body = proxy.on_submit(body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=60
                )
                content = answer.content
                if self.path.endswith("/generate/text/pop") and answer.status_code == 200:
                    content = proxy.on_pop(content)
                self.send_response(answer.status_code)
                self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def on_pop(self, content: bytes) -> bytes:
        job = json.loads(content)
        if self.strip and job.get("payload"):
            for limit in ("top_k", "top_p", "min_p"):
                job["payload"].pop(limit, None)
        return json.dumps(job).encode()

    def on_submit(self, body: bytes) -> bytes:
        submit = json.loads(body)
        if not self.replay or submit.get("state", "ok") != "ok":
            return body
        if self.first_result is None:
            self.first_result = {"generation": submit.get("generation"), "token_ids": submit.get("token_ids")}
        else:
            submit.update(self.first_result)
        return json.dumps(submit).encode()

    def close(self) -> None:
        self.httpd.shutdown()


def junk_worker(server: Potluck, key: str, name: str, stop: threading.Event) -> threading.Thread:
    """A worker that answers every job with random words and reports no token ids."""

    def run() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            job = api(server, "POST", "/generate/text/pop", key, {"name": name, "models": [MODEL], "max_length": 64,
                                                                    "max_context_length": 256})
            if not job.get("id"):
                time.sleep(0.1)
                continue
            text = " ".join(rng.choice(WORDS) for _ in range(8))
            api(server, "POST", "/generate/text/submit", key, {"id": job["id"], "generation": text})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def queue_for(server: Potluck, requester: str, worker: str) -> list[str]:
    """Queues JOBS requests for `worker` alone; returns their ids."""
    ids = []
    for i in range(JOBS):
        body = {"prompt": f"Once upon a time, story {i}:", "params": {**PARAMS, "seed": i},
                "models": [MODEL], "workers": [worker]}
        ids.append(api(server, "POST", "/generate/text/async", requester, body)["id"])
    return ids


def no_check_pending(server: Potluck) -> bool:
    """Nothing waits: every request done (or for a paused worker) and every check settled."""
    return api(server, "GET", "/status/performance")["queued_text_requests"] == 0


def test_honest_work_is_paid_and_every_cheat_is_caught(server: Potluck, workers: Workers) -> None:
    checker_key = server.create_user("checker-owner", trusted=True)
    workers.start(*engine_args(server.base_url, checker_key, "trusted-checker"))
    wait_for("the checker is online", lambda: worker_of(server, "trusted-checker").get("online"), 120, workers.logs)
    _, requester = server.register("requester")
    # Far above the balance floor, so that what it pays shows in its balance.
    server.grant(requester, 1000)
    report = []
    key_of = {}

    # The honest worker: every check passes, and its kudos are released.
    honest_key = server.create_user("honest-owner")
    workers.start(*engine_args(server.base_url, honest_key, "honest"))
    ids = queue_for(server, requester, "honest")

    def all_served_and_checked() -> bool:
        done = all(api(server, "GET", f"/generate/text/status/{i}")["done"] for i in ids)
        return done and no_check_pending(server)

    wait_for("the honest worker's jobs and their checks", all_served_and_checked, 600, workers.logs)
    honest = worker_of(server, "honest")
    assert honest["checks_failed"] == 0, honest
    assert honest["checks_passed"] >= 10, honest
    account = me(server, honest_key)
    assert account["kudos"] > 0, account
    report.append(("honest", honest))
    key_of["honest"] = honest_key

    cheats = {}
    stop = threading.Event()
    # Junk text.
    junk_key = server.create_user("junk-owner")
    junk_worker(server, junk_key, "junk", stop)
    cheats["junk"] = junk_key
    # Another model under this model's name.
    other_key = server.create_user("other-model-owner")
    workers.start(*engine_args(server.base_url, other_key, "other-model", OTHER_MODEL_FILE))
    cheats["other-model"] = other_key
    # A sampler that ignores top-k and top-p.
    unlimited_key = server.create_user("unlimited-owner")
    unlimited = Proxy(server.base_url, strip=True)
    workers.start(*engine_args(unlimited.url, unlimited_key, "unlimited"))
    cheats["unlimited"] = unlimited_key
    # A replay of an old result.
    replay_key = server.create_user("replay-owner")
    replay = Proxy(server.base_url, replay=True)
    workers.start(*engine_args(replay.url, replay_key, "replay"))
    cheats["replay"] = replay_key
    try:
        # A cheat's results fail their checks before anyone fetched them, so each is withdrawn
        # and served again, by the same worker (the requests name it), until it is paused.
        for name in cheats:
            queue_for(server, requester, name)
        for name in cheats:
            wait_for(f"{name} is paused", lambda: worker_of(server, name).get("paused"), 900, workers.logs)
    finally:
        stop.set()
        unlimited.close()
        replay.close()

    key_of.update(cheats)
    records = {name: worker_of(server, name) for name in cheats}
    for name, record in [("honest", honest), *records.items()]:
        checks = record["checks_passed"] + record["checks_failed"]
        account = me(server, key_of[name])
        print(f"# {name}: {record['requests_fulfilled']} jobs, {checks} checked, "
              f"{record['checks_failed']} failed ({100 * record['checks_failed'] / max(checks, 1):.0f}% caught), "
              f"kudos {account['kudos']}, held {account['evaluating_kudos']}")
    for name, record in records.items():
        account = me(server, key_of[name])
        # Every job checked (a failure keeps its rate at every job), JOBS of them failed, nothing
        # spendable, and paused. A sampler that ignores the limits writes, now and then, a text
        # an honest one could have written, and the replay's first result is honest work: those
        # checks pass, but no run of passes is long enough to release anything (what passed since
        # the last failure stays held, and is forfeited at the next one).
        assert record["checks_failed"] >= JOBS, (name, record)
        assert account["kudos"] == 0, (name, account)
        assert record["paused"], (name, record)
        if name in ("junk", "other-model"):
            assert record["checks_passed"] == 0, (name, record)
    # The requester paid for the honest worker's results only: every failed check refunded it.
    requester_kudos = me(server, requester)["kudos"]
    assert requester_kudos < 1000, requester_kudos
    ledger = api(server, "GET", "/users/me/export", requester)["kudos_ledger"]
    refunds = [line for line in ledger if line["reason"] == "refunded"]
    failed = sum(record["checks_failed"] for record in records.values())
    # (A check settled since the records were read may add a refund.)
    assert len(refunds) >= failed, (len(refunds), failed)
    assert subprocess_audit(server), "audit-kudos"


def subprocess_audit(server: Potluck) -> bool:
    import subprocess

    from conftest import clean_env

    done = subprocess.run(
        [str(server.binary), "--database-url", server.database_url, "admin", "audit-kudos"],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )
    return done.returncode == 0
