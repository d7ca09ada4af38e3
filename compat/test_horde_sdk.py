"""horde-sdk, unmodified from PyPI, as requester and as worker against a real potluck server.

Every call goes through horde-sdk's own request and response classes and clients:
AIHordeAPIManualClient, AIHordeAPIClientSession and AIHordeAPISimpleClient. A response that
horde-sdk cannot parse comes back as a RequestErrorResponse saying "The response type doesn't
match expected one", which `expect` turns into a failure naming the endpoint's model and the
pydantic error.

Strictness: horde-sdk forbids unknown fields only when TESTS_ONGOING is set, and then it also
refuses the one documented Potluck extension (`id` on text generations). Instead, the tests run
it as clients do in production (unknown fields allowed and kept in `model_extra`) and `expect`
walks every parsed response and fails on any field horde-sdk does not know, except those listed
in ALLOWED_EXTRA_FIELDS. That is the same check, decided per field.

Kudos are checked against the formulas written at the top of crates/core/src/kudos.rs,
recomputed here independently.
"""

from __future__ import annotations

import base64
import io
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# conftest.py started potluck and pointed AI_HORDE_URL at it. horde-sdk reads it at import time,
# so check before importing it that no call can go anywhere else.
_AI_HORDE_URL = os.environ.get("AI_HORDE_URL", "")
if not _AI_HORDE_URL.startswith("http://127.0.0.1:"):
    raise RuntimeError(
        "AI_HORDE_URL does not point at a local potluck; run these tests with pytest so that "
        f"compat/conftest.py starts the server first (AI_HORDE_URL={_AI_HORDE_URL!r})"
    )

import pytest
import requests
from PIL import Image
from pydantic import BaseModel

from horde_sdk import ANON_API_KEY
from horde_sdk.ai_horde_api import endpoints
from horde_sdk.ai_horde_api.ai_horde_clients import (
    AIHordeAPIClientSession,
    AIHordeAPIManualClient,
    AIHordeAPISimpleClient,
)
from horde_sdk.ai_horde_api.apimodels import (
    AIHordeHeartbeatRequest,
    AIHordeHeartbeatResponse,
    DeleteImageGenerateRequest,
    FindUserRequest,
    ImageGenerateAsyncRequest,
    ImageGenerateAsyncResponse,
    ImageGenerateCheckRequest,
    ImageGenerateCheckResponse,
    ImageGenerateJobPopRequest,
    ImageGenerateJobPopResponse,
    ImageGenerateStatusRequest,
    ImageGenerateStatusResponse,
    ImageGenerationInputPayload,
    ImageGenerationJobSubmitRequest,
    JobSubmitResponse,
    ModelGenerationInputKobold,
    TextGenerateAsyncRequest,
    TextGenerateAsyncResponse,
    TextGenerateJobPopRequest,
    TextGenerateJobPopResponse,
    TextGenerateStatusRequest,
    TextGenerateStatusResponse,
    TextGenerationJobSubmitRequest,
    UserDetailsResponse,
)
from horde_sdk.ai_horde_api.consts import GENERATION_STATE
from horde_sdk.ai_horde_api.exceptions import AIHordeRequestError
from horde_sdk.generic_api.apimodels import HordeResponse, RequestErrorResponse

assert endpoints.AI_HORDE_BASE_URL == _AI_HORDE_URL, endpoints.AI_HORDE_BASE_URL
assert "AI_HORDE_DEV_APIKEY" not in os.environ, "AI_HORDE_DEV_APIKEY would replace every key the tests send"

# A 7B model: the text formula reads the size from the name.
TEXT_MODEL = "koboldcpp/Compat-7B"
TEXT_MODEL_BILLIONS = 7.0
IMAGE_MODEL = "stable_diffusion"
TEXT_WORKER = "compat-text-worker"
IMAGE_WORKER = "compat-image-worker"
BRIDGE_AGENT = "potluck compat test:1:https://example.invalid/potluck"
JOB_WAIT_SECS = 60
# How long the simple client waits for a request to finish (it polls every 4 s).
SIMPLE_CLIENT_TIMEOUT_SECS = 60

# Fields Potluck sends that horde-sdk's models do not declare, each decided to be harmless
# (horde-sdk keeps unknown fields in production) and kept on purpose: (model class, field).
ALLOWED_EXTRA_FIELDS = {
    # The generation's id on text generations; the AI Horde sends it on image generations
    # only. bench/ uses it to match generations to jobs.
    ("GenerationKobold", "id"),
    # Whether the account shows its workers to everyone; for the account itself and moderators.
    # The AI Horde takes it in ModifyUser only; Potluck shows it back so the owner can see it.
    ("UserDetailsResponse", "public_workers"),
    # How many of a worker's results a check verified or failed (Potluck's verification).
    ("SingleWorkerDetailsResponse", "checks_passed"),
    ("SingleWorkerDetailsResponse", "checks_failed"),
    ("WorkerDetailItem", "checks_passed"),
    ("WorkerDetailItem", "checks_failed"),
    # The AI Horde's TeamDetailsStable/TeamDetailsKobold have `contributions`; horde-sdk's
    # TeamDetails lacks it. `tokens_generated` is Potluck's, for its text workers.
    ("TeamDetails", "contributions"),
    ("TeamDetails", "tokens_generated"),
    # The AI Horde's ResponseModelMessage has these; horde-sdk's lacks them (so `id`, needed to
    # read or delete a message, is read from `model_extra`).
    ("ResponseModelMessage", "id"),
    ("ResponseModelMessage", "user_id"),
    ("ResponseModelMessage", "created"),
}

R = TypeVar("R", bound=HordeResponse)


def potluck_base() -> str:
    """The server's own address, which image and upload URLs must start with."""
    return _AI_HORDE_URL.removesuffix("/api/")


# --- checking what horde-sdk made of an answer ------------------------------------------------


def unknown_fields(value: object, path: str) -> list[str]:
    """Every field of a parsed answer that horde-sdk's model does not declare, with its path."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            if (type(value).__name__, key) not in ALLOWED_EXTRA_FIELDS:
                found.append(f"{path}.{key} (in {type(value).__name__})")
        for name in type(value).model_fields:
            found += unknown_fields(getattr(value, name, None), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += unknown_fields(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += unknown_fields(item, f"{path}[{key!r}]")
    return found


def expect(response: object, expected_type: type[R]) -> R:
    """The answer, parsed by horde-sdk as `expected_type`, with no field horde-sdk does not know."""
    if isinstance(response, RequestErrorResponse):
        pytest.fail(
            f"expected a {expected_type.__name__} ({expected_type.get_api_model_name()}), horde-sdk gave "
            f"an error: rc={response.rc!r} message={response.message!r} object_data={response.object_data!r}"
        )
    assert isinstance(response, expected_type), f"expected {expected_type.__name__}, got {response!r}"
    extra = unknown_fields(response, expected_type.__name__)
    assert not extra, f"fields horde-sdk does not know: {extra}; raw: {response!r}"
    return response


def expect_error(response: object, rc: str) -> RequestErrorResponse:
    assert isinstance(response, RequestErrorResponse), f"expected an error with rc {rc}, got {response!r}"
    assert response.rc == rc, f"expected rc {rc}, got rc={response.rc!r} message={response.message!r}"
    assert response.message, response
    return response


# --- the kudos formulas (crates/core/src/kudos.rs), in hundredths ------------------------------


def to_hundredths(value: float) -> int:
    """Kudos::from_f64: value × 100 rounded half away from zero (values here are positive)."""
    scaled = value * 100.0
    whole = math.floor(scaled)
    return whole + (1 if scaled - whole >= 0.5 else 0)


def kudos_hundredths(amount: float) -> int:
    """An amount the API shows, which is always a whole number of hundredths."""
    return round(amount * 100)


TEXT_DIVISOR = 125.0
# The compat workers' bridge is no validated back end: their text rewards are cut to this share.
UNVALIDATED_SHARE = 0.3


def quick_tokens(text: str) -> int:
    """Tokens counted the AI Horde's quick way: a quarter of the characters, at least 20."""
    return max(math.ceil(len(text) / 4), 20)


def text_kudos(tokens: int, billions: float, prompt: str, max_context_length: int, *, validated: bool) -> int:
    """kudos.rs: tokens × (max(B, 13) / 13)^0.2 × B / 125 (× 0.3 unvalidated) × the context term
    of the prompt's tokens (at most max_context_length)."""
    parameter_bonus = (max(billions, 13.0) / 13.0) ** 0.2
    context_tokens = min(quick_tokens(prompt), max_context_length)
    context = min(max(1.2 + 2.2 ** math.log2(max(context_tokens, 1) / 1024.0), 0.1), 30.0)
    kudos = tokens * parameter_bonus * billions / TEXT_DIVISOR
    if not validated:
        kudos *= UNVALIDATED_SHARE
    return to_hundredths(kudos * context)


def text_estimate(max_length: int, billions: float, prompt: str, max_context_length: int) -> int:
    """What a text request shows up front per generation: max_length tokens at the full rate."""
    return text_kudos(max_length, billions, prompt, max_context_length, validated=True)


def text_reward(generation: str, max_length: int, billions: float, prompt: str, max_context_length: int) -> int:
    """What the compat text worker earns for `generation`."""
    tokens = min(quick_tokens(generation), max_length)
    return text_kudos(tokens, billions, prompt, max_context_length, validated=False)


def image_kudos(width: int, height: int, steps: int) -> int:
    """kudos.rs's image base (the AI Horde's legacy formula), × 1 for a SD 1.5 model."""
    area = width * height
    smallest = 64 * 64
    size = (max(area - smallest, 0) / (1024 * 1024 - smallest)) ** 1.75
    return round((0.1232 * steps + size * 0.1232 * steps * 8.75) * 100)


def image_cost(reward: int) -> int:
    """What the requester pays for an image whose worker earned `reward` (slow workers allowed,
    no post-processing, txt2img): the reward and the burn."""
    return reward + BURN_PER_GENERATION


BURN_PER_GENERATION = 100  # hundredths: the requester pays the reward plus 1 kudos
TAX_PER_REQUEST = 100  # hundredths: and 1 kudos for the request, when it is queued


# --- helpers ----------------------------------------------------------------------------------


manual = AIHordeAPIManualClient()
simple = AIHordeAPISimpleClient()


def kudos_of(apikey: str) -> int:
    """The account's kudos in hundredths, through FindUserRequest."""
    user = expect(manual.submit_request(FindUserRequest(apikey=apikey), UserDetailsResponse), UserDetailsResponse)
    return kudos_hundredths(user.kudos)


def webp_bytes(seed: int, size: int = 64) -> tuple[bytes, Image.Image]:
    """A small lossless WebP with a pattern, and the picture it holds."""
    picture = Image.new("RGB", (size, size))
    picture.putdata([((x * 4 + seed) % 256, (y * 4) % 256, (x ^ y ^ seed) % 256) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    picture.save(buffer, format="WEBP", lossless=True)
    data = buffer.getvalue()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data, picture


def same_picture(received: Image.Image, sent: Image.Image) -> bool:
    return received.size == sent.size and received.convert("RGB").tobytes() == sent.tobytes()


def pop_text(apikey: str, prompt: str) -> TextGenerateJobPopResponse:
    """Pops as the text worker until the job of `prompt` comes (it may still be being queued)."""
    pop = TextGenerateJobPopRequest(
        apikey=apikey,
        name=TEXT_WORKER,
        models=[TEXT_MODEL],
        max_length=512,
        max_context_length=4096,
        bridge_agent=BRIDGE_AGENT,
    )
    for _ in range(JOB_WAIT_SECS * 4):
        job = expect(manual.submit_request(pop, TextGenerateJobPopResponse), TextGenerateJobPopResponse)
        if job.id_ is not None:
            assert job.payload.prompt == prompt, f"popped another job than expected: {job!r}"
            assert job.ids == [job.id_]
            assert job.model == TEXT_MODEL
            assert job.ttl and job.ttl > 0
            return job
        assert job.ids == []
        time.sleep(0.25)
    pytest.fail(f"no text job for {prompt!r} within {JOB_WAIT_SECS} s")


def pop_image(apikey: str, prompt: str) -> ImageGenerateJobPopResponse:
    pop = ImageGenerateJobPopRequest(
        apikey=apikey,
        name=IMAGE_WORKER,
        models=[IMAGE_MODEL],
        max_pixels=262_144,
        bridge_agent=BRIDGE_AGENT,
    )
    for _ in range(JOB_WAIT_SECS * 4):
        job = expect(manual.submit_request(pop, ImageGenerateJobPopResponse), ImageGenerateJobPopResponse)
        if job.id_ is not None:
            assert job.payload.prompt == prompt, f"popped another job than expected: {job!r}"
            assert job.ids == [job.id_]
            assert job.model == IMAGE_MODEL
            assert job.r2_upload and job.r2_uploads == [job.r2_upload]
            assert job.ttl and job.ttl > 0
            return job
        assert job.ids == []
        time.sleep(0.25)
    pytest.fail(f"no image job for {prompt!r} within {JOB_WAIT_SECS} s")


@pytest.fixture(scope="session")
def text_worker(worker_owner: str) -> str:
    """Brings the text worker online with a first pop (an empty answer) and returns the owner's key.

    Potluck only accepts a request for a model some worker has served.
    """
    empty = manual.submit_request(
        TextGenerateJobPopRequest(
            apikey=worker_owner, name=TEXT_WORKER, models=[TEXT_MODEL], max_length=512,
            max_context_length=4096, bridge_agent=BRIDGE_AGENT,
        ),
        TextGenerateJobPopResponse,
    )
    empty = expect(empty, TextGenerateJobPopResponse)
    assert empty.id_ is None and empty.ids == []
    return worker_owner


@pytest.fixture(scope="session")
def image_worker(worker_owner: str) -> str:
    empty = manual.submit_request(
        ImageGenerateJobPopRequest(
            apikey=worker_owner, name=IMAGE_WORKER, models=[IMAGE_MODEL], max_pixels=262_144,
            bridge_agent=BRIDGE_AGENT,
        ),
        ImageGenerateJobPopResponse,
    )
    empty = expect(empty, ImageGenerateJobPopResponse)
    assert empty.id_ is None and empty.ids == [] and empty.r2_upload is None
    return worker_owner


# --- the tests --------------------------------------------------------------------------------


def test_heartbeat_and_find_user(requester: tuple[str, str], worker_owner: str) -> None:
    heartbeat = expect(simple.heartbeat_request(), AIHordeHeartbeatResponse)
    assert heartbeat.message == "OK" and heartbeat.version

    username, apikey = requester
    user = expect(manual.submit_request(FindUserRequest(apikey=apikey), UserDetailsResponse), UserDetailsResponse)
    assert user.username == username
    assert user.id_ is not None and username.endswith(f"#{user.id_}")
    assert user.pseudonymous is True

    owner = expect(manual.submit_request(FindUserRequest(apikey=worker_owner), UserDetailsResponse), UserDetailsResponse)
    assert owner.username.startswith("compat-worker-owner#")

    anonymous = expect(manual.submit_request(FindUserRequest(apikey=ANON_API_KEY), UserDetailsResponse), UserDetailsResponse)
    assert anonymous.id_ == 0 and anonymous.kudos == 0


def test_worker_pop_with_nothing_to_do(text_worker: str, image_worker: str) -> None:
    """With nothing queued, both pops answer "no job" in a shape horde-sdk accepts."""
    text = manual.submit_request(
        TextGenerateJobPopRequest(apikey=text_worker, name=TEXT_WORKER, models=[TEXT_MODEL], bridge_agent=BRIDGE_AGENT),
        TextGenerateJobPopResponse,
    )
    text = expect(text, TextGenerateJobPopResponse)
    assert (text.id_, text.ids, text.model) == (None, [], None)
    assert text.payload.prompt is None

    image = manual.submit_request(
        ImageGenerateJobPopRequest(
            apikey=image_worker, name=IMAGE_WORKER, models=[IMAGE_MODEL], max_pixels=262_144, bridge_agent=BRIDGE_AGENT
        ),
        ImageGenerateJobPopResponse,
    )
    image = expect(image, ImageGenerateJobPopResponse)
    assert (image.id_, image.ids, image.model, image.r2_upload) == (None, [], None, None)
    assert image.payload.prompt is None


def test_heartbeat_through_a_session() -> None:
    with AIHordeAPIClientSession() as session:
        expect(session.submit_request(AIHordeHeartbeatRequest(), AIHordeHeartbeatResponse), AIHordeHeartbeatResponse)


def test_registered_requester_text(text_worker: str, requester: tuple[str, str]) -> None:
    _, requester_key = requester
    prompt = f"Registered requester, text {uuid.uuid4()}"
    generation = "A compatibility answer of exactly a hundred characters, give or take none at all: padding, padding!!"
    assert len(generation) == 100
    max_length, max_context_length = 64, 2048
    owner_before, requester_before = kudos_of(text_worker), kudos_of(requester_key)

    with AIHordeAPIClientSession() as session:
        accepted = expect(
            session.submit_request(
                TextGenerateAsyncRequest(
                    apikey=requester_key,
                    prompt=prompt,
                    params=ModelGenerationInputKobold(max_length=max_length, max_context_length=max_context_length),
                    models=[TEXT_MODEL],
                ),
                TextGenerateAsyncResponse,
            ),
            TextGenerateAsyncResponse,
        )
        # Up front: max_length tokens at the full rate, the burn, and the request's 1 kudos.
        estimate = text_estimate(max_length, TEXT_MODEL_BILLIONS, prompt, max_context_length) + BURN_PER_GENERATION + TAX_PER_REQUEST
        assert kudos_hundredths(accepted.kudos) == estimate, accepted

        waiting = expect(session.submit_request(TextGenerateStatusRequest(id=accepted.id_), TextGenerateStatusResponse), TextGenerateStatusResponse)
        assert (waiting.waiting, waiting.finished, waiting.done) == (1, 0, False), waiting
        assert waiting.generations == []

        job = pop_text(text_worker, prompt)
        assert job.payload.max_length == max_length
        assert job.payload.max_context_length == max_context_length

        processing = expect(session.submit_request(TextGenerateStatusRequest(id=accepted.id_), TextGenerateStatusResponse), TextGenerateStatusResponse)
        assert (processing.processing, processing.done) == (1, False), processing

        submitted = expect(
            manual.submit_request(
                TextGenerationJobSubmitRequest(apikey=text_worker, id=job.id_, generation=generation, state=GENERATION_STATE.ok),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        )
        reward = kudos_hundredths(submitted.reward)
        assert reward == text_reward(generation, max_length, TEXT_MODEL_BILLIONS, prompt, max_context_length) == 51

        done = expect(session.submit_request(TextGenerateStatusRequest(id=accepted.id_), TextGenerateStatusResponse), TextGenerateStatusResponse)
        assert (done.finished, done.processing, done.waiting, done.done, done.faulted) == (1, 0, 0, True, False), done
        [result] = done.generations
        assert result.text == generation
        assert result.model == TEXT_MODEL
        assert result.worker_name == TEXT_WORKER
        assert result.state == GENERATION_STATE.ok

    assert kudos_of(text_worker) - owner_before == reward
    assert kudos_of(requester_key) - requester_before == -(reward + BURN_PER_GENERATION + TAX_PER_REQUEST)


def test_anonymous_requester_text_with_the_simple_client(text_worker: str, requester: tuple[str, str]) -> None:
    _, requester_key = requester
    prompt = f"Anonymous requester, text {uuid.uuid4()}"
    generation = "short"  # counts as the minimum of 20 tokens
    max_length, max_context_length = 80, 1024
    owner_before, requester_before = kudos_of(text_worker), kudos_of(requester_key)
    anonymous_before = kudos_of(ANON_API_KEY)

    request = TextGenerateAsyncRequest(
        apikey=ANON_API_KEY,
        prompt=prompt,
        params=ModelGenerationInputKobold(max_length=max_length, max_context_length=max_context_length),
        models=[TEXT_MODEL],
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The simple client queues the request, then polls its status until it is done.
        waiting = pool.submit(simple.text_generate_request, request, SIMPLE_CLIENT_TIMEOUT_SECS)
        job = pop_text(text_worker, prompt)
        submitted = expect(
            manual.submit_request(
                TextGenerationJobSubmitRequest(apikey=text_worker, id=job.id_, generation=generation, state=GENERATION_STATE.ok),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        )
        status, request_id = waiting.result(timeout=SIMPLE_CLIENT_TIMEOUT_SECS + 30)

    status = expect(status, TextGenerateStatusResponse)
    assert status.done and status.finished == 1
    [result] = status.generations
    assert result.text == generation and result.worker_name == TEXT_WORKER
    assert str(request_id)

    reward = kudos_hundredths(submitted.reward)
    assert reward == text_reward(generation, max_length, TEXT_MODEL_BILLIONS, prompt, max_context_length) == 41
    assert kudos_of(text_worker) - owner_before == reward
    # Anonymous requests cost nothing, and nobody else pays for them.
    assert kudos_of(ANON_API_KEY) == anonymous_before == 0
    assert kudos_of(requester_key) == requester_before


def test_registered_requester_image_uploaded_to_r2(image_worker: str, requester: tuple[str, str]) -> None:
    _, requester_key = requester
    prompt = f"a lighthouse, registered {uuid.uuid4()}"
    width, height, steps = 256, 256, 20
    webp, picture = webp_bytes(seed=7)
    owner_before, requester_before = kudos_of(image_worker), kudos_of(requester_key)

    with AIHordeAPIClientSession() as session:
        accepted = expect(
            session.submit_request(
                ImageGenerateAsyncRequest(
                    apikey=requester_key,
                    prompt=f"{prompt} ### fog",
                    params=ImageGenerationInputPayload(width=width, height=height, steps=steps, seed="1234", n=1),
                    models=[IMAGE_MODEL],
                    r2=True,
                ),
                ImageGenerateAsyncResponse,
            ),
            ImageGenerateAsyncResponse,
        )
        # Up front: the image's cost and the request's 1 kudos.
        expected = image_cost(image_kudos(width, height, steps)) + TAX_PER_REQUEST
        assert kudos_hundredths(accepted.kudos) == expected, accepted

        check = expect(session.submit_request(ImageGenerateCheckRequest(id=accepted.id_), ImageGenerateCheckResponse), ImageGenerateCheckResponse)
        assert (check.waiting, check.done) == (1, False), check

        job = pop_image(image_worker, f"{prompt} ### fog")
        assert (job.payload.width, job.payload.height, job.payload.ddim_steps) == (width, height, steps)
        assert job.payload.seed == "1234"
        assert job.payload.n_iter == 1

        # The worker uploads its image where r2_upload says (a URL of potluck itself) ...
        uploaded = requests.put(job.r2_upload, data=webp, headers={"Content-Type": "image/webp"}, timeout=30)
        assert uploaded.status_code == 200, uploaded.text
        # ... and says "R2" instead of sending it inline.
        submitted = expect(
            manual.submit_request(
                ImageGenerationJobSubmitRequest(
                    apikey=image_worker, id=job.id_, generation="R2", state=GENERATION_STATE.ok, seed=1234
                ),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        )
        reward = kudos_hundredths(submitted.reward)
        assert reward == image_kudos(width, height, steps) == 262

        check = expect(session.submit_request(ImageGenerateCheckRequest(id=accepted.id_), ImageGenerateCheckResponse), ImageGenerateCheckResponse)
        assert (check.finished, check.done) == (1, True), check
        status = expect(session.submit_request(ImageGenerateStatusRequest(id=accepted.id_), ImageGenerateStatusResponse), ImageGenerateStatusResponse)

    assert status.done and not status.faulted
    [result] = status.generations
    assert result.id_ == job.id_
    assert result.seed == "1234" and not result.censored
    assert result.model == IMAGE_MODEL and result.worker_name == IMAGE_WORKER
    assert result.img.startswith(potluck_base() + "/"), result.img
    assert same_picture(simple.download_image_from_generation(result), picture)
    assert same_picture(simple.download_image_from_url(result.img), picture)

    assert kudos_of(image_worker) - owner_before == reward
    assert kudos_of(requester_key) - requester_before == -(image_cost(reward) + TAX_PER_REQUEST)


def test_anonymous_requester_image_submitted_inline_with_the_simple_client(image_worker: str) -> None:
    prompt = f"a lighthouse, anonymous {uuid.uuid4()}"
    width, height, steps = 512, 512, 30
    webp, picture = webp_bytes(seed=99)
    owner_before = kudos_of(image_worker)

    request = ImageGenerateAsyncRequest(
        apikey=ANON_API_KEY,
        prompt=prompt,
        params=ImageGenerationInputPayload(width=width, height=height, steps=steps),
        models=[IMAGE_MODEL],
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The simple client queues the request, polls /generate/check, then fetches the status.
        waiting = pool.submit(simple.image_generate_request, request, SIMPLE_CLIENT_TIMEOUT_SECS)
        job = pop_image(image_worker, prompt)
        submitted = expect(
            manual.submit_request(
                ImageGenerationJobSubmitRequest(
                    apikey=image_worker,
                    id=job.id_,
                    generation=base64.b64encode(webp).decode(),
                    state=GENERATION_STATE.ok,
                    seed=int(job.payload.seed),
                ),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        )
        status, request_id = waiting.result(timeout=SIMPLE_CLIENT_TIMEOUT_SECS + 30)

    status = expect(status, ImageGenerateStatusResponse)
    assert status.done and status.finished == 1
    [result] = status.generations
    assert result.seed == job.payload.seed
    assert result.img.startswith(potluck_base() + "/"), result.img
    assert same_picture(simple.download_image_from_generation(result), picture)

    reward = kudos_hundredths(submitted.reward)
    assert reward == image_kudos(width, height, steps) == 650
    assert kudos_of(image_worker) - owner_before == reward
    assert kudos_of(ANON_API_KEY) == 0


def test_image_without_r2_comes_back_as_base64(image_worker: str) -> None:
    prompt = f"inline please {uuid.uuid4()}"
    webp, picture = webp_bytes(seed=3)
    accepted = expect(
        manual.submit_request(
            ImageGenerateAsyncRequest(
                apikey=ANON_API_KEY, prompt=prompt, models=[IMAGE_MODEL], r2=False,
                params=ImageGenerationInputPayload(width=64, height=64, steps=5),
            ),
            ImageGenerateAsyncResponse,
        ),
        ImageGenerateAsyncResponse,
    )
    job = pop_image(image_worker, prompt)
    expect(
        manual.submit_request(
            ImageGenerationJobSubmitRequest(
                apikey=image_worker, id=job.id_, generation=base64.b64encode(webp).decode(), state=GENERATION_STATE.ok, seed=5
            ),
            JobSubmitResponse,
        ),
        JobSubmitResponse,
    )
    status = expect(manual.get_generate_status(accepted.id_), ImageGenerateStatusResponse)
    [result] = status.generations
    assert not result.img.startswith("http")
    assert same_picture(simple.download_image_from_generation(result), picture)


# --- error paths --------------------------------------------------------------------------------


def test_wrong_api_key_is_invalid_api_key(text_worker: str) -> None:
    wrong = "x" * 22
    # find_user tells a key of nobody apart, as the AI Horde does (404).
    expect_error(manual.submit_request(FindUserRequest(apikey=wrong), UserDetailsResponse), "UserNotFound")
    expect_error(
        manual.submit_request(
            TextGenerateJobPopRequest(apikey=wrong, name=TEXT_WORKER, models=[TEXT_MODEL]), TextGenerateJobPopResponse
        ),
        "InvalidAPIKey",
    )
    # The simple client raises it.
    with pytest.raises(AIHordeRequestError, match="No user matching sent API Key"):
        simple.text_generate_request(
            TextGenerateAsyncRequest(apikey=wrong, prompt="never queued", models=[TEXT_MODEL]), timeout=30
        )


def test_duplicate_submit_is_refused_and_paid_once(text_worker: str) -> None:
    prompt = f"submitted twice {uuid.uuid4()}"
    accepted = expect(
        manual.submit_request(
            TextGenerateAsyncRequest(apikey=ANON_API_KEY, prompt=prompt, models=[TEXT_MODEL]), TextGenerateAsyncResponse
        ),
        TextGenerateAsyncResponse,
    )
    job = pop_text(text_worker, prompt)
    owner_before = kudos_of(text_worker)
    submit = TextGenerationJobSubmitRequest(apikey=text_worker, id=job.id_, generation="once", state=GENERATION_STATE.ok)
    first = expect(manual.submit_request(submit, JobSubmitResponse), JobSubmitResponse)
    expect_error(manual.submit_request(submit, JobSubmitResponse), "DuplicateGen")
    assert kudos_of(text_worker) - owner_before == kudos_hundredths(first.reward) > 0
    done = expect(manual.submit_request(TextGenerateStatusRequest(id=accepted.id_), TextGenerateStatusResponse), TextGenerateStatusResponse)
    assert done.done and len(done.generations) == 1


def test_unknown_ids(text_worker: str, image_worker: str) -> None:
    unknown = str(uuid.uuid4())
    expect_error(
        manual.submit_request(
            TextGenerationJobSubmitRequest(apikey=text_worker, id=unknown, generation="x", state=GENERATION_STATE.ok),
            JobSubmitResponse,
        ),
        "InvalidJobID",
    )
    expect_error(
        manual.submit_request(
            ImageGenerationJobSubmitRequest(apikey=image_worker, id=unknown, generation="R2", state=GENERATION_STATE.ok),
            JobSubmitResponse,
        ),
        "InvalidJobID",
    )
    expect_error(manual.submit_request(TextGenerateStatusRequest(id=unknown), TextGenerateStatusResponse), "RequestNotFound")
    expect_error(manual.submit_request(ImageGenerateCheckRequest(id=unknown), ImageGenerateCheckResponse), "RequestNotFound")


def test_anonymous_worker_is_refused() -> None:
    expect_error(
        manual.submit_request(
            TextGenerateJobPopRequest(apikey=ANON_API_KEY, name="anonymous-worker", models=[TEXT_MODEL]),
            TextGenerateJobPopResponse,
        ),
        "AnonForbiddenWorker",
    )


def test_rule_rejection_reaches_horde_sdk_with_its_rc(text_worker: str) -> None:
    answer = manual.submit_request(
        TextGenerateAsyncRequest(
            apikey=ANON_API_KEY,
            prompt="more tokens than its context",
            params=ModelGenerationInputKobold(max_length=512, max_context_length=256),
            models=[TEXT_MODEL],
        ),
        TextGenerateAsyncResponse,
    )
    expect_error(answer, "TokenOverflow")


def test_a_model_no_worker_serves_yet_is_queued_with_the_ai_hordes_warning(image_worker: str) -> None:
    answer = manual.submit_request(
        ImageGenerateAsyncRequest(apikey=ANON_API_KEY, prompt="no worker has this", models=["no-such-model"]),
        ImageGenerateAsyncResponse,
    )
    queued = expect(answer, ImageGenerateAsyncResponse)
    assert queued.id_, queued
    assert [warning.code for warning in queued.warnings] == ["NoAvailableWorker"], queued
    expect(
        manual.submit_request(DeleteImageGenerateRequest(id=queued.id_), ImageGenerateStatusResponse),
        ImageGenerateStatusResponse,
    )
