"""The OpenAI-compatible API (/v1) with OpenAI's own Python client, unmodified, served by a real
potluck-worker running our engine on the tiny fixture model.

What it proves: the client's calls and exceptions work as against OpenAI; a /v1 request is an
ordinary queued job (greedy, it gives exactly what /api/v2 and the engine give); a stream
carries the worker's tokens as they are generated, not at the end; a requester who goes away
stops the worker and pays only for what was generated; and, on PostgreSQL, a stream read from
one server instance carries the text of a worker attached to another.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openai
import pytest
import requests

from conftest import (
    SUBMITTED, Potluck, WorkerProcess, engine_worker, kudos_hundredths, local_generation, online, potluck_binary,
    queue, status, wait_for,
)

MODEL = "tiny-llama-openai"
# Greedy and otherwise neutral, in both APIs' words, so that their answers can be compared.
GREEDY_V2 = {"temperature": 0, "top_p": 1, "top_k": 0, "min_p": 0, "rep_pen": 1}
STORY = [{"role": "user", "content": "Tell me a story about a lighthouse."}]
# Long enough that a stream lasts a while on a software GPU.
STREAM_TOKENS = 300
GONE = "the requester went away; submitting what there is"
# The worker's log line for a job it streams: its time and the job's id.
STREAMED_JOB = re.compile(r"^(\S+)\s.*generating job=(\S+) .*stream=true", re.MULTILINE)


@dataclass
class ModelWorker:
    process: WorkerProcess
    owner: str

    def log_text(self) -> str:
        return self.process.log_text()


@pytest.fixture(scope="module")
def worker(potluck: Potluck, tmp_path_factory: pytest.TempPathFactory):
    """One engine worker serving MODEL on the session's server, for the whole module (its first
    pop announces the model's chat template)."""
    owner = potluck.create_user("openai-owner", trusted=True)
    potluck.grant(owner, 1000)
    log = tmp_path_factory.mktemp("openai-worker") / "worker.log"
    process = WorkerProcess(engine_worker(potluck, owner, "openai-box", MODEL), log).start()
    wait_for("the worker comes online", lambda: online(potluck, "openai-box"), 60, process.log_text)
    yield ModelWorker(process, owner)
    process.stop()
    print("--- openai-box\n" + process.log_text()[-4000:])


def client(server: Potluck, key: str = "0000000000") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0, timeout=120)


def streamed(stream) -> tuple[list[tuple[float, str]], list]:
    """The content pieces of a chat stream with the time each arrived, and every chunk."""
    pieces, chunks = [], []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append((time.monotonic(), chunk.choices[0].delta.content))
    return pieces, chunks


def last_streamed_generation_seconds(log: str) -> float:
    """How long the worker took, by its log's clock, from starting its last streamed job to
    submitting it."""
    [*_, (started, job)] = STREAMED_JOB.findall(log)
    [submitted] = re.findall(rf"^(\S+)\s.*submitted job={job} ", log, re.MULTILINE)
    return (datetime.fromisoformat(submitted) - datetime.fromisoformat(started)).total_seconds()


def test_models_are_those_online_workers_serve(potluck: Potluck, worker: ModelWorker) -> None:
    models = client(potluck).models.list()
    [model] = [m for m in models.data if m.id == MODEL]
    assert model.object == "model"
    assert client(potluck).models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as unknown:
        client(potluck).models.retrieve("no-such-model")
    assert unknown.value.status_code == 404


def test_a_completion_is_the_same_job_as_through_api_v2(potluck: Potluck, worker: ModelWorker) -> None:
    prompt = "The lighthouse keeper opened the door and"
    completion = client(potluck).completions.create(
        model=MODEL, prompt=prompt, max_tokens=24, temperature=0, seed=3
    )
    [choice] = completion.choices
    assert completion.object == "text_completion" and completion.model == MODEL
    assert choice.finish_reason in ("length", "stop") and choice.text
    usage = completion.usage
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    # The same request through the AI Horde API, and straight through the engine.
    params = {"max_length": 24, "max_context_length": 256, **GREEDY_V2}
    request_id = queue(potluck, prompt, params, MODEL)
    wait_for("the /api/v2 request is done", lambda: status(potluck, request_id)["done"], 60, worker.log_text)
    [generation] = status(potluck, request_id)["generations"]
    assert choice.text == generation["text"] == local_generation(prompt, params, 3)


def test_a_chat_stream_brings_the_tokens_as_they_are_generated(potluck: Potluck, worker: ModelWorker) -> None:
    chat = client(potluck).chat.completions
    whole = chat.create(model=MODEL, messages=STORY, max_tokens=STREAM_TOKENS, temperature=0)
    assert whole.choices[0].message.role == "assistant"
    expected = whole.choices[0].message.content
    assert expected

    stream = chat.create(
        model=MODEL, messages=STORY, max_tokens=STREAM_TOKENS, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )
    pieces, chunks = streamed(stream)
    # Exactly the answer the waiting request got.
    assert "".join(text for _, text in pieces) == expected
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing in (["length"], ["stop"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens

    # Token by token as the worker made them: many pieces, spread over the generation rather
    # than all at its end. Measured against the worker's own generating-to-submitted time, not the
    # request's, which also holds the wait for the worker's next pop.
    assert len(pieces) >= 10, f"{len(pieces)} pieces"
    spread = pieces[-1][0] - pieces[0][0]
    generating = last_streamed_generation_seconds(worker.log_text())
    assert spread > 0.5 * generating, f"pieces came within {spread:.2f} s of a {generating:.2f} s generation"


def test_a_requester_who_goes_away_stops_the_worker_and_pays_for_what_was_made(
    potluck: Potluck, worker: ModelWorker
) -> None:
    _, key = potluck.register("openai-leaver")
    # Far above the balance floor, so that what moves shows as it is.
    potluck.grant(key, 1000)
    before = (kudos_hundredths(potluck, key), kudos_hundredths(potluck, worker.owner))
    done_before = len(SUBMITTED.findall(worker.log_text()))
    stream = client(potluck, key).chat.completions.create(
        model=MODEL, messages=STORY, max_tokens=480, temperature=0.8, stream=True
    )
    received = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    stream.close()

    wait_for("the worker stops and submits", lambda: worker.log_text().count(GONE) == 1, 60, worker.log_text)
    wait_for(
        "the worker logs its reward", lambda: len(SUBMITTED.findall(worker.log_text())) > done_before, 30, worker.log_text
    )
    _, tokens, reward = SUBMITTED.findall(worker.log_text())[-1]
    assert 3 <= int(tokens) < 480
    # The owner earned the reward of what was generated; the requester paid it, the burn and
    # the request's 1 kudos.
    wait_for("the owner is paid", lambda: kudos_hundredths(potluck, worker.owner) != before[1], 10)
    earned = kudos_hundredths(potluck, worker.owner) - before[1]
    assert earned == round(float(reward) * 100)
    assert before[0] - kudos_hundredths(potluck, key) == earned + 200


def test_errors_are_raised_as_openais_client_raises_them(potluck: Potluck, worker: ModelWorker) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client(potluck).chat.completions.create(model="no-such-model", messages=STORY)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        client(potluck, "not-a-key-of-22-chars!").chat.completions.create(model=MODEL, messages=STORY)
    with pytest.raises(openai.BadRequestError) as hot:
        client(potluck).chat.completions.create(model=MODEL, messages=STORY, temperature=5)
    assert hot.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as tools:
        client(potluck).chat.completions.create(
            model=MODEL, messages=STORY, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]
        )
    assert tools.value.code == "unsupported_parameter"
    # Not JSON at all: the same shape, from the same place.
    answer = requests.post(
        f"{potluck.base_url}/v1/chat/completions", data="{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.skipif(
    not os.environ.get("POTLUCK_COMPAT_DATABASE_URL"),
    reason="several instances share a PostgreSQL database; runs in the PostgreSQL pass",
)
def test_a_stream_read_from_another_instance_carries_the_workers_text(
    potluck: Potluck, worker: ModelWorker, tmp_path: Path
) -> None:
    other = Potluck(binary=potluck_binary(), workdir=tmp_path)
    other.start()
    try:
        assert re.match(r"postgres(ql)?://", other.database_url)
        expected = client(potluck).chat.completions.create(
            model=MODEL, messages=STORY, max_tokens=120, temperature=0
        ).choices[0].message.content
        stream = client(other).chat.completions.create(
            model=MODEL, messages=STORY, max_tokens=120, temperature=0, stream=True
        )
        pieces, _ = streamed(stream)
        assert "".join(text for _, text in pieces) == expected
        # Relayed as it came (through PostgreSQL's notifications), not only read at the end.
        assert len(pieces) >= 5, f"{len(pieces)} pieces"
    finally:
        other.stop()
