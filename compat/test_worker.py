"""potluck-worker end to end: real potluck servers, real potluck-worker processes, real requesters.

The worker runs our engine on the tiny fixture model (crates/infer/fixtures, on whatever GPU
wgpu finds: lavapipe on CI), or bridges transformers' own OpenAI-compatible server
(`transformers serve`, from PyPI) that the test starts. horde-sdk is the requester where the
session's server is used; tests that restart or reconfigure a server start one of their own and
talk to it with plain HTTP (horde-sdk is bound to AI_HORDE_URL when it is imported).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from horde_sdk.ai_horde_api.ai_horde_clients import AIHordeAPISimpleClient
from horde_sdk.ai_horde_api.apimodels import ModelGenerationInputKobold, TextGenerateAsyncRequest

from conftest import (
    MAX_CONTEXT, MODEL_DIR, Potluck, WorkerProcess, Workers, clean_env, engine_worker, free_port, kudos_hundredths,
    local_generation, online, potluck_binary, potluck_worker_binary, queue, status, wait_for,
)

# A job long enough (some seconds on a software GPU) to act while it runs.
# The end of text banned, so that the job runs its full length.
LONG_JOB = {"max_length": 480, "max_context_length": 500, "temperature": 0.8, "use_default_badwordsids": True}

simple = AIHordeAPISimpleClient()

# scripts/test.sh runs this suite twice, the second time with the session's server on
# PostgreSQL. Tests that start servers of their own (SQLite) or test only the bridge would run
# the same way twice: once is enough.
first_pass_only = pytest.mark.skipif(
    bool(os.environ.get("POTLUCK_COMPAT_DATABASE_URL")),
    reason="does not depend on the session's database; runs in the SQLite pass",
)


@pytest.fixture
def own_server(tmp_path: Path):
    """Makes servers of the test's own on fixed ports (so that they can restart where the
    workers expect them), each with its database, stopped after the test."""
    servers: list[Potluck] = []

    def start(*extra: str) -> Potluck:
        server = Potluck(
            binary=potluck_binary(),
            workdir=tmp_path / f"server-{len(servers)}",
            listen=f"127.0.0.1:{free_port()}",
            extra_args=list(extra),
            own_database=True,
        )
        server.workdir.mkdir()
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_the_engine_worker_serves_a_horde_sdk_requester(potluck: Potluck, workers: Workers) -> None:
    owner = potluck.create_user("engine-owner", trusted=True)
    # Far above the balance floor, so that its rewards show in its balance as they are.
    potluck.grant(owner, 1000)
    _, requester = potluck.register("engine-requester")
    model = "tiny-llama-engine"
    workers.start(*engine_worker(potluck, owner, "engine-box", model))
    wait_for("the worker comes online", lambda: online(potluck, "engine-box"), 60, workers.logs)
    owner_before = kudos_hundredths(potluck, owner)

    prompt = "The worker takes a job from the queue and"
    params = ModelGenerationInputKobold(
        max_length=24, max_context_length=256, temperature=0.9, top_k=40, top_p=0.95, rep_pen=1.05, rep_pen_range=64
    )
    request = TextGenerateAsyncRequest(apikey=requester, prompt=prompt, params=params, models=[model])
    done, _ = simple.text_generate_request(request, 120)
    assert done.done and done.finished == 1
    [generation] = done.generations
    assert generation.worker_name == "engine-box" and generation.model == model
    assert generation.text

    # The same tokens as the engine gives directly with the seed the worker reported.
    expected = local_generation(prompt, params.model_dump(exclude_none=True), generation.seed)
    assert generation.text == expected

    # The owner got exactly the reward the server announced to the worker.
    wait_for("the worker logs its reward", lambda: workers.started[0].rewards(), 10, workers.logs)
    [reward] = workers.started[0].rewards()
    assert reward > 0
    assert kudos_hundredths(potluck, owner) - owner_before == round(reward * 100)


@pytest.fixture
def openai_server(tmp_path: Path):
    """transformers' OpenAI-compatible server with the tiny fixture model, on a free port."""
    port = free_port()
    log_path = tmp_path / "transformers-serve.log"
    executable = Path(sys.executable).parent / "transformers"
    env = clean_env()
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", str(MODEL_DIR), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, "transformers serve exited:\n" + log_path.read_text(errors="replace")
        try:
            return requests.get(f"{url}/health", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for("transformers serve starts", healthy, 240, lambda: log_path.read_text(errors="replace"))
    yield url
    process.terminate()
    process.wait(timeout=30)
    print("--- transformers serve\n" + log_path.read_text(errors="replace")[-4000:])


@first_pass_only
def test_the_openai_bridge_serves_a_requester(potluck: Potluck, workers: Workers, openai_server: str) -> None:
    owner = potluck.create_user("bridge-owner")
    model = "tiny-llama-bridge"
    workers.start(
        "--server", potluck.base_url, "--api-key", owner, "--name", "bridge-box", "--backend", "openai",
        "--backend-url", f"{openai_server}/v1", "--backend-model", str(MODEL_DIR), "--model-name", model,
        "--max-context-length", MAX_CONTEXT,
    )
    wait_for("the bridge comes online", lambda: online(potluck, "bridge-box"), 60, workers.logs)
    prompt = "Once upon a time"
    # Greedy, so that the bridged answer can be compared with the server's own. top_k is moot
    # then, but makes the bridge send an extension, which this server refuses (as OpenAI's
    # does): the bridge must fall back to the standard parameters.
    params = ModelGenerationInputKobold(max_length=16, max_context_length=256, temperature=0, top_k=40, top_p=1, rep_pen=1)
    done, _ = simple.text_generate_request(
        TextGenerateAsyncRequest(apikey="0000000000", prompt=prompt, params=params, models=[model]), 120
    )
    [generation] = done.generations
    assert generation.worker_name == "bridge-box"

    direct = requests.post(
        f"{openai_server}/v1/completions",
        json={"model": str(MODEL_DIR), "prompt": prompt, "max_tokens": 16, "temperature": 0},
        timeout=60,
    ).json()
    assert generation.text == direct["choices"][0]["text"]
    assert "sending the standard parameters only" in workers.logs()
    # transformers and our engine agree on this model (crates/infer's tests prove it).
    assert generation.text == local_generation(prompt, params.model_dump(exclude_none=True), 0)


@dataclass
class RunningJob:
    server: Potluck
    owner: str
    worker: WorkerProcess
    request_id: str


def a_long_job_running(server: Potluck, workers: Workers, name: str) -> RunningJob:
    """A worker of a new account on `server`, busy with a job of some seconds."""
    owner = server.create_user(f"{name}-owner", trusted=True)
    # Far above the balance floor, so that its rewards show in its balance as they are.
    server.grant(owner, 1000)
    worker = workers.start(*engine_worker(server, owner, name, "tiny-llama"))
    wait_for("the worker comes online", lambda: online(server, name), 60, workers.logs)
    request_id = queue(server, "Once upon a time", LONG_JOB, "tiny-llama")
    wait_for("the job runs", lambda: status(server, request_id)["processing"] == 1, 30, workers.logs)
    return RunningJob(server, owner, worker, request_id)


@first_pass_only
def test_a_server_restart_during_a_job_loses_nothing(own_server, workers: Workers) -> None:
    job = a_long_job_running(own_server(), workers, "restart-box")
    server, request_id, worker = job.server, job.request_id, job.worker
    server.kill()
    time.sleep(1)
    server.start()
    wait_for("the request is done", lambda: status(server, request_id)["done"], 90, workers.logs)
    result = status(server, request_id)
    assert (result["finished"], result["restarted"], result["faulted"]) == (1, 0, False)
    assert result["generations"][0]["text"]
    # Submitted once, and paid once.
    assert len(worker.rewards()) == 1
    assert kudos_hundredths(server, job.owner) == 100_000 + round(worker.rewards()[0] * 100)


@first_pass_only
def test_the_job_of_a_killed_worker_is_done_by_another(own_server, workers: Workers) -> None:
    job = a_long_job_running(own_server("--job-ttl-override-secs", "15", "--sweep-interval-ms", "200"), workers, "doomed-box")
    server, request_id = job.server, job.request_id
    job.worker.process.send_signal(signal.SIGKILL)
    job.worker.process.wait(timeout=10)

    workers.start(*engine_worker(server, job.owner, "spare-box", "tiny-llama"))
    wait_for("the request is done", lambda: status(server, request_id)["done"], 90, workers.logs)
    result = status(server, request_id)
    assert result["restarted"] == 1
    assert [g["worker_name"] for g in result["generations"]] == ["spare-box"]


@first_pass_only
def test_a_failing_backend_reports_the_job_faulted(own_server, workers: Workers) -> None:
    server = own_server("--max-restarts", "1")
    owner = server.create_user("fault-owner")
    nothing_listens = f"http://127.0.0.1:{free_port()}/v1"
    worker = workers.start(
        "--server", server.base_url, "--api-key", owner, "--name", "broken-box", "--backend", "openai",
        "--backend-url", nothing_listens, "--backend-model", "x", "--model-name", "broken-model",
    )
    wait_for("the worker comes online", lambda: online(server, "broken-box"), 60, workers.logs)
    request_id = queue(server, "Hello", {"max_length": 16, "max_context_length": 256}, "broken-model")
    wait_for("the request faults", lambda: status(server, request_id)["faulted"], 60, workers.logs)
    result = status(server, request_id)
    # Nothing was invented: no text came back, and the worker said why.
    assert all(not g["text"] for g in result["generations"]), result
    assert worker.log_text().count("reporting the job faulted") == 2
    assert worker.rewards() == []


@first_pass_only
def test_ctrl_c_finishes_the_current_job_then_exits(own_server, workers: Workers) -> None:
    job = a_long_job_running(own_server(), workers, "drain-box")
    server, request_id, worker = job.server, job.request_id, job.worker
    worker.process.send_signal(signal.SIGINT)
    assert worker.process.wait(timeout=60) == 0, worker.log_text()
    result = status(server, request_id)
    assert result["done"] and result["generations"][0]["worker_name"] == "drain-box"
    assert "finishing the current jobs" in worker.log_text()


@first_pass_only
def test_ctrl_c_twice_hands_the_job_back(own_server, workers: Workers) -> None:
    job = a_long_job_running(own_server(), workers, "abort-box")
    server, request_id, worker = job.server, job.request_id, job.worker
    worker.process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    worker.process.send_signal(signal.SIGINT)
    assert worker.process.wait(timeout=60) == 0, worker.log_text()
    result = status(server, request_id)
    # Handed back at once (not after its ttl): waiting for the next worker.
    assert not result["done"] and result["restarted"] == 1 and result["waiting"] == 1, result
    workers.start(*engine_worker(server, job.owner, "next-box", "tiny-llama"))
    wait_for("the request is done", lambda: status(server, request_id)["done"], 60, workers.logs)
    assert status(server, request_id)["generations"][0]["worker_name"] == "next-box"


def maintenance(server: Potluck, key: str, name: str, switch: str) -> None:
    done = subprocess.run(
        [str(potluck_worker_binary()), "maintenance", switch, "--server", server.base_url, "--api-key", key, "--name", name],
        capture_output=True, text=True, env=clean_env(), timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{name}: maintenance {switch}"


@first_pass_only
def test_maintenance_mode_holds_jobs_until_it_is_lifted(own_server, workers: Workers) -> None:
    server = own_server()
    owner = server.create_user("maintenance-owner")
    worker = workers.start(*engine_worker(server, owner, "resting-box", "tiny-llama"))
    wait_for("the worker comes online", lambda: online(server, "resting-box"), 60, workers.logs)
    maintenance(server, owner, "resting-box", "on")
    request_id = queue(server, "Once upon a time", {"max_length": 16, "max_context_length": 256}, "tiny-llama")
    time.sleep(3)
    assert status(server, request_id)["waiting"] == 1
    assert "generating" not in worker.log_text()

    maintenance(server, owner, "resting-box", "off")
    wait_for("the request is done", lambda: status(server, request_id)["done"], 30, workers.logs)
    assert worker.process.poll() is None, "the worker kept running through its maintenance"
