"""horde-sdk, unmodified from PyPI, against the rest of potluck's AI Horde API: styles and
collections, shared keys, teams, alchemy (interrogation), statistics, worker messages, image
ratings and kudos awards.

The same rules as test_horde_sdk.py, whose helpers this module uses: every call goes through
horde-sdk's own request and response classes, `expect` fails on any answer horde-sdk cannot
parse or parses with fields it does not know, and `expect_error` checks the AI Horde's `rc`.
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest
import requests

# test_horde_sdk checks, before horde-sdk is imported, that AI_HORDE_URL points at the potluck
# that conftest.py started; importing it first keeps that check in front of horde-sdk here too.
from test_horde_sdk import (
    BURN_PER_GENERATION,
    IMAGE_MODEL,
    TEXT_MODEL,
    TEXT_WORKER,
    expect,
    expect_error,
    image_worker,  # noqa: F401 (a fixture)
    kudos_hundredths,
    kudos_of,
    manual,
    pop_image,
    potluck_base,
    pop_text,
    text_worker,  # noqa: F401 (a fixture)
    unknown_fields,
    webp_bytes,
)

from horde_sdk import ANON_API_KEY
from horde_sdk.ai_horde_api.apimodels import (
    AestheticRating,
    AlchemyAsyncRequest,
    AlchemyAsyncRequestFormItem,
    AlchemyAsyncResponse,
    AlchemyDeleteRequest,
    AlchemyJobPopResponse,
    AlchemyJobSubmitRequest,
    AlchemyJobSubmitResponse,
    AlchemyPopRequest,
    AlchemyStatusRequest,
    AlchemyStatusResponse,
    AllCollectionsRequest,
    AllCollectionsResponse,
    AllStylesImageRequest,
    AllStylesImageResponse,
    AllStylesTextRequest,
    AllStylesTextResponse,
    AllTeamDetailsRequest,
    AllTeamDetailsResponse,
    AllWorkerMessagesRequest,
    CollectionByIDRequest,
    CreateCollectionRequest,
    CreateCollectionResponse,
    CreateStyleImageRequest,
    CreateStyleTextRequest,
    CreateTeamRequest,
    CreateWorkerMessageRequest,
    DeleteCollectionRequest,
    DeleteCollectionResponse,
    DeleteStyleImageRequest,
    DeleteStyleImageResponse,
    DeleteStyleTextRequest,
    DeleteStyleTextResponse,
    DeleteTeamRequest,
    DeleteTeamResponse,
    DeleteWorkerMessageRequest,
    DeleteWorkerMessageResponse,
    FindUserRequest,
    ImageGenerateAsyncRequest,
    ImageGenerateAsyncResponse,
    ImageGenerateJobPopRequest,
    ImageGenerateJobPopResponse,
    ImageGenerateStatusRequest,
    ImageGenerateStatusResponse,
    ImageGenerationInputPayload,
    ImageGenerationJobSubmitRequest,
    ImageStatsModelsRequest,
    ImageStatsModelsResponse,
    ImageStatsModelsTotalRequest,
    ImageStatsModelsTotalResponse,
    JobSubmitResponse,
    KudosAwardRequest,
    KudosAwardResponse,
    ModelGenerationInputKobold,
    ModelStyleInputParamsKobold,
    ModelStyleInputParamsStable,
    ModifyStyleImageRequest,
    ModifyStyleImageResponse,
    ModifyStyleTextRequest,
    ModifyStyleTextResponse,
    ModifyTeam,
    ModifyTeamRequest,
    ModifyWorkerRequest,
    ModifyWorkerResponse,
    RateRequest,
    RateResponse,
    ResponseModelCollection,
    ResponseModelMessage,
    ResponseModelMessages,
    SharedKeyCreateRequest,
    SharedKeyDeleteRequest,
    SharedKeyDeleteResponse,
    SharedKeyDetailsRequest,
    SharedKeyModifyRequest,
    SingleStyleImageByIDRequest,
    SingleStyleImageByNameRequest,
    SingleStyleTextByIDRequest,
    SingleStyleTextByNameRequest,
    SingleTeamDetailsRequest,
    SingleWorkerMessageRequest,
    SingleWorkerNameDetailsRequest,
    SingleWorkerDetailsResponse,
    StyleImageExampleAddRequest,
    StyleImageExampleDeleteResponse,
    StyleImageExampleModifyResponse,
    StyleKobold,
    StyleStable,
    TeamDetails,
    TextGenerateAsyncRequest,
    TextGenerateAsyncResponse,
    TextGenerateJobPopRequest,
    TextGenerateJobPopResponse,
    TextGenerateStatusRequest,
    TextGenerateStatusResponse,
    TextGenerationJobSubmitRequest,
    TextStatsModelResponse,
    TextStatsModelsRequest,
    TextStatsModelsTotalRequest,
    TextStatsModelsTotalResponse,
    UpdateCollectionRequest,
    UpdateCollectionResponse,
    UserDetailsResponse,
)
from horde_sdk.ai_horde_api.apimodels.sharedkeys import ExpiryStrSharedKeyDetailsResponse
from horde_sdk.ai_horde_api.consts import GENERATION_STATE
from horde_sdk.exceptions import PayloadValidationError

ALCHEMIST = "compat-alchemist"


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on a shared database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def style_owner(potluck) -> str:
    """A trusted account: only trusted accounts (the AI Horde's customizers) write styles."""
    return potluck.create_user("compat-style-owner", trusted=True)


@pytest.fixture(scope="session")
def moderator(potluck) -> str:
    return potluck.create_user("compat-moderator", moderator=True)


@pytest.fixture(scope="session")
def admin(potluck) -> str:
    """Potluck's admin role: the one that awards kudos (the AI Horde lets its operator's account)."""
    return potluck.create_user("compat-admin", admin=True)


def funded_account(potluck, admin: str, name: str) -> str:
    """A new account given 100 kudos by an admin, so that its balance stays above its floor (14
    kudos, below which potluck tops a balance up) and every movement shows in full."""
    key = potluck.create_user(unique(name))
    awarded = expect(
        manual.submit_request(KudosAwardRequest(apikey=admin, username=username_of(key), amount=100), KudosAwardResponse),
        KudosAwardResponse,
    )
    assert awarded.awarded == 100 and kudos_of(key) == 10000
    return key


def username_of(apikey: str) -> str:
    user = expect(manual.submit_request(FindUserRequest(apikey=apikey), UserDetailsResponse), UserDetailsResponse)
    return user.username


# --- styles -------------------------------------------------------------------------------------


def test_text_style_create_get_by_id_and_name_modify_delete(style_owner: str, requester: tuple[str, str]) -> None:
    name = unique("compat-text-style")
    created = expect(
        manual.submit_request(
            CreateStyleTextRequest(
                apikey=style_owner,
                name=name,
                info="a terse narrator",
                prompt="{p} Answer in one sentence.",
                tags=["compat"],
                models=[TEXT_MODEL],
                params=ModelStyleInputParamsKobold(max_length=64, max_context_length=1024, temperature=0.5),
            ),
            ModifyStyleTextResponse,
        ),
        ModifyStyleTextResponse,
    )
    style_id = created.id_
    uuid.UUID(style_id)

    by_id = expect(manual.submit_request(SingleStyleTextByIDRequest(style_id=style_id), StyleKobold), StyleKobold)
    by_name = expect(manual.submit_request(SingleStyleTextByNameRequest(style_name=name), StyleKobold), StyleKobold)
    for style in (by_id, by_name):
        assert style.id_ == style_id and style.name == name
        assert style.prompt == "{p} Answer in one sentence."
        assert style.info == "a terse narrator"
        assert style.models == [TEXT_MODEL] and style.tags == ["compat"]
        assert style.params.max_length == 64 and style.params.max_context_length == 1024
        assert style.params.temperature == 0.5
        assert style.creator == username_of(style_owner)
        assert style.public and not style.nsfw

    listed = expect(manual.submit_request(AllStylesTextRequest(tag="compat"), AllStylesTextResponse), AllStylesTextResponse)
    assert style_id in [s.id_ for s in listed.root]
    # Asked for as an image style, it is of the wrong type (the AI Horde's rc, typo included).
    expect_error(
        manual.submit_request(SingleStyleImageByNameRequest(style_name=name), StyleStable), "StyleGetMistmatch"
    )

    renamed = unique("compat-text-style")
    modified = expect(
        manual.submit_request(
            ModifyStyleTextRequest(
                apikey=style_owner,
                style_id=style_id,
                name=renamed,
                prompt="{p} Answer in two sentences.",
                models=[TEXT_MODEL],
                params=ModelStyleInputParamsKobold(max_length=32),
            ),
            ModifyStyleTextResponse,
        ),
        ModifyStyleTextResponse,
    )
    assert modified.id_ == style_id
    after = expect(manual.submit_request(SingleStyleTextByNameRequest(style_name=renamed), StyleKobold), StyleKobold)
    assert after.id_ == style_id and after.prompt == "{p} Answer in two sentences."
    assert after.params.max_length == 32

    # Nobody else may delete it.
    expect_error(
        manual.submit_request(DeleteStyleTextRequest(apikey=ANON_API_KEY, style_id=style_id), DeleteStyleTextResponse),
        "StylesAnonForbidden",
    )
    _, stranger = requester
    expect_error(
        manual.submit_request(DeleteStyleTextRequest(apikey=stranger, style_id=style_id), DeleteStyleTextResponse),
        "Forbidden",
    )

    deleted = expect(
        manual.submit_request(DeleteStyleTextRequest(apikey=style_owner, style_id=style_id), DeleteStyleTextResponse),
        DeleteStyleTextResponse,
    )
    assert deleted.message
    expect_error(manual.submit_request(SingleStyleTextByIDRequest(style_id=style_id), StyleKobold), "StyleNotFound")


def create_image_style(owner: str, name: str, **extra) -> str:
    created = expect(
        manual.submit_request(
            CreateStyleImageRequest(
                apikey=owner,
                name=name,
                prompt="{p}, in watercolour###{np}, photo",
                models=[IMAGE_MODEL],
                tags=["compat"],
                params=ModelStyleInputParamsStable(width=512, height=512, steps=12, cfg_scale=6.0),
                **extra,
            ),
            ModifyStyleImageResponse,
        ),
        ModifyStyleImageResponse,
    )
    uuid.UUID(created.id_)
    return created.id_


def test_image_style_create_get_by_id_and_name_modify_delete(style_owner: str) -> None:
    name = unique("compat-image-style")
    style_id = create_image_style(style_owner, name)

    by_id = expect(manual.submit_request(SingleStyleImageByIDRequest(style_id=style_id), StyleStable), StyleStable)
    by_name = expect(manual.submit_request(SingleStyleImageByNameRequest(style_name=name), StyleStable), StyleStable)
    for style in (by_id, by_name):
        assert style.id_ == style_id and style.name == name
        assert style.prompt == "{p}, in watercolour###{np}, photo"
        assert style.models == [IMAGE_MODEL]
        assert (style.params.width, style.params.height, style.params.steps) == (512, 512, 12)
        assert style.params.cfg_scale == 6.0
        assert style.creator == username_of(style_owner)

    listed = expect(manual.submit_request(AllStylesImageRequest(sort="age"), AllStylesImageResponse), AllStylesImageResponse)
    assert style_id in [s.id_ for s in listed.root]

    modified = expect(
        manual.submit_request(
            ModifyStyleImageRequest(
                apikey=style_owner,
                style_id=style_id,
                name=name,
                prompt="{p}, in charcoal###{np}",
                params=ModelStyleInputParamsStable(width=256, height=256, steps=8),
                sharedkey=None,
            ),
            ModifyStyleImageResponse,
        ),
        ModifyStyleImageResponse,
    )
    assert modified.id_ == style_id
    after = expect(manual.submit_request(SingleStyleImageByIDRequest(style_id=style_id), StyleStable), StyleStable)
    assert after.prompt == "{p}, in charcoal###{np}"
    assert (after.params.width, after.params.height, after.params.steps) == (256, 256, 8)

    # Example images: added, changed, deleted.
    example_url = "https://example.com/compat/watercolour.webp"
    added = expect(
        manual.submit_request(
            StyleImageExampleAddRequest(apikey=style_owner, style_id=style_id, url=example_url, primary=True),
            StyleImageExampleModifyResponse,
        ),
        StyleImageExampleModifyResponse,
    )
    example_id = added.id_
    [example] = expect(
        manual.submit_request(SingleStyleImageByIDRequest(style_id=style_id), StyleStable), StyleStable
    ).examples
    assert (example.id_, example.url, example.primary) == (example_id, example_url, True)
    expect_error(
        manual.submit_request(
            StyleImageExampleAddRequest(apikey=style_owner, style_id=style_id, url=example_url),
            StyleImageExampleModifyResponse,
        ),
        "ExampleURLAlreadyInUse",
    )
    # horde-sdk cannot send StyleImageExampleModifyRequest nor StyleImageExampleDeleteRequest:
    # it fills each path field with its own format_map, and a path with two of them
    # (`{style_id}`, `{example_id}`) raises KeyError. So these two go by hand, with horde-sdk's
    # models for the answers.
    example_url_2 = example_url.replace(".webp", "-2.webp")
    changed = requests.patch(
        f"{potluck_base()}/api/v2/styles/image/{style_id}/example/{example_id}",
        headers={"apikey": style_owner}, json={"url": example_url_2, "primary": True}, timeout=10,
    )
    assert changed.status_code == 200, changed.text
    assert StyleImageExampleModifyResponse.model_validate(changed.json()).id_ == example_id
    [example] = expect(
        manual.submit_request(SingleStyleImageByIDRequest(style_id=style_id), StyleStable), StyleStable
    ).examples
    assert (example.id_, example.url, example.primary) == (example_id, example_url_2, True)
    deleted = requests.delete(
        f"{potluck_base()}/api/v2/styles/image/{style_id}/example/{example_id}",
        headers={"apikey": style_owner}, timeout=10,
    )
    assert deleted.status_code == 200, deleted.text
    assert StyleImageExampleDeleteResponse.model_validate(deleted.json()).message
    assert not expect(
        manual.submit_request(SingleStyleImageByIDRequest(style_id=style_id), StyleStable), StyleStable
    ).examples

    # A second style of the same name is refused: an error on the field `name`, which horde-sdk
    # raises (as it does for every answer with `errors`).
    with pytest.raises(PayloadValidationError, match="already have a style or collection of this name"):
        manual.submit_request(
            CreateStyleImageRequest(
                apikey=style_owner, name=name, prompt="{p}, again###{np}", models=[IMAGE_MODEL],
                params=ModelStyleInputParamsStable(),
            ),
            ModifyStyleImageResponse,
        )

    deleted = expect(
        manual.submit_request(DeleteStyleImageRequest(apikey=style_owner, style_id=style_id), DeleteStyleImageResponse),
        DeleteStyleImageResponse,
    )
    assert deleted.message
    expect_error(manual.submit_request(SingleStyleImageByNameRequest(style_name=name), StyleStable), "StyleNotFound")


def collection_by_name(name: str) -> ResponseModelCollection:
    """GET /v2/collection_by_name/{name}, parsed by horde-sdk's model.

    horde-sdk's CollectionByNameRequest cannot be sent: `collection_name` is not among its path
    fields, so its client puts it in the body of a GET and refuses to send that. The answer is
    still checked against horde-sdk's ResponseModelCollection.
    """
    answer = requests.get(f"{potluck_base()}/api/v2/collection_by_name/{name}", timeout=10)
    assert answer.status_code == 200, answer.text
    collection = ResponseModelCollection.model_validate(answer.json())
    extra = unknown_fields(collection, "ResponseModelCollection")
    assert not extra, f"fields horde-sdk does not know: {extra}"
    return collection


def test_collections_create_get_by_id_and_name_update_delete(style_owner: str) -> None:
    first = create_image_style(style_owner, unique("compat-collected"))
    second = create_image_style(style_owner, unique("compat-collected"))
    name = unique("compat-collection")

    created = expect(
        manual.submit_request(
            CreateCollectionRequest(apikey=style_owner, name=name, info="two styles", styles=[first]),
            CreateCollectionResponse,
        ),
        CreateCollectionResponse,
    )
    collection_id = created.id_
    uuid.UUID(collection_id)

    by_id = expect(
        manual.submit_request(CollectionByIDRequest(collection_id=collection_id), ResponseModelCollection),
        ResponseModelCollection,
    )
    by_name = collection_by_name(name)
    for collection in (by_id, by_name):
        assert collection.id == collection_id and collection.name == name
        assert collection.type == "image" and collection.info == "two styles" and collection.public
        assert [s.id_ for s in collection.styles] == [first]

    # horde-sdk's AllCollectionsRequest puts its `type_` field in the body of a GET (the query
    # field is listed as "type"), which its own client then refuses to send; without it, the
    # server's default (all types) applies.
    listing = AllCollectionsRequest(sort="age").model_copy(update={"type_": None})
    listed = expect(manual.submit_request(listing, AllCollectionsResponse), AllCollectionsResponse)
    assert collection_id in [c.id for c in listed.root]

    updated = expect(
        manual.submit_request(
            UpdateCollectionRequest(
                apikey=style_owner, collection_id=collection_id, name=name, info="now two", styles=[first, second]
            ),
            UpdateCollectionResponse,
        ),
        UpdateCollectionResponse,
    )
    assert updated.id_ == collection_id
    after = expect(
        manual.submit_request(CollectionByIDRequest(collection_id=collection_id), ResponseModelCollection),
        ResponseModelCollection,
    )
    assert [s.id_ for s in after.styles] == [first, second] and after.info == "now two"

    # A collection of a style that does not exist is refused.
    missing = str(uuid.uuid4())
    refused = expect_error(
        manual.submit_request(
            CreateCollectionRequest(apikey=style_owner, name=unique("compat-collection"), styles=[missing]),
            CreateCollectionResponse,
        ),
        "BadRequest",
    )
    assert missing in refused.message

    deleted = expect(
        manual.submit_request(
            DeleteCollectionRequest(apikey=style_owner, collection_id=collection_id), DeleteCollectionResponse
        ),
        DeleteCollectionResponse,
    )
    assert deleted.message
    expect_error(
        manual.submit_request(CollectionByIDRequest(collection_id=collection_id), ResponseModelCollection),
        "CollectionNotFound",
    )
    gone = requests.get(f"{potluck_base()}/api/v2/collection_by_name/{name}", timeout=10)
    assert gone.status_code == 404 and gone.json()["rc"] == "CollectionNotFound", gone.text


# --- shared keys --------------------------------------------------------------------------------


def test_shared_key_create_get_modify_use_delete(potluck, text_worker: str, admin: str) -> None:
    # A lender with kudos above its floor (14), so that what it pays shows whole.
    lender = funded_account(potluck, admin, "compat-lender")
    created = expect(
        manual.submit_request(
            SharedKeyCreateRequest(
                apikey=lender, kudos=500, name="compat key", max_image_pixels=-1, max_image_steps=-1,
                max_text_tokens=100, expiry=-1,
            ),
            ExpiryStrSharedKeyDetailsResponse,
        ),
        ExpiryStrSharedKeyDetailsResponse,
    )
    key = str(created.sharedkey_id)
    assert created.username == username_of(lender)
    assert (created.name, created.kudos, created.utilized, created.max_text_tokens) == ("compat key", 500, 0, 100)
    assert created.expiry is None

    details = expect(
        manual.submit_request(SharedKeyDetailsRequest(id=key), ExpiryStrSharedKeyDetailsResponse),
        ExpiryStrSharedKeyDetailsResponse,
    )
    assert details.sharedkey_id == key and details.name == "compat key" and details.kudos == 500

    modified = expect(
        manual.submit_request(
            SharedKeyModifyRequest(
                apikey=lender, id=key, kudos=400, name="compat key, renamed", max_image_pixels=-1,
                max_image_steps=-1, max_text_tokens=64, expiry=30,
            ),
            ExpiryStrSharedKeyDetailsResponse,
        ),
        ExpiryStrSharedKeyDetailsResponse,
    )
    assert (modified.name, modified.kudos, modified.max_text_tokens) == ("compat key, renamed", 400, 64)
    assert modified.expiry  # in 30 days

    # find_user with the key answers its owner, named as seen through the key.
    through = expect(manual.submit_request(FindUserRequest(apikey=key), UserDetailsResponse), UserDetailsResponse)
    assert through.username == f"{username_of(lender)} (Shared Key: compat key, renamed)"

    # The key queues a request as its apikey, and the lender pays for it.
    lender_before = kudos_of(lender)
    prompt = f"through a shared key {uuid.uuid4()}"
    # Above the key's max_text_tokens is refused, and costs nothing.
    refused = expect_error(
        manual.submit_request(
            TextGenerateAsyncRequest(
                apikey=key, prompt=prompt, models=[TEXT_MODEL], params=ModelGenerationInputKobold(max_length=128),
            ),
            TextGenerateAsyncResponse,
        ),
        "BadRequest",
    )
    assert "limited to 64 tokens" in refused.message
    assert kudos_of(lender) == lender_before
    accepted = expect(
        manual.submit_request(
            TextGenerateAsyncRequest(
                apikey=key, prompt=prompt, models=[TEXT_MODEL],
                params=ModelGenerationInputKobold(max_length=32, max_context_length=1024),
            ),
            TextGenerateAsyncResponse,
        ),
        TextGenerateAsyncResponse,
    )
    job = pop_text(text_worker, prompt)
    submitted = expect(
        manual.submit_request(
            TextGenerationJobSubmitRequest(apikey=text_worker, id=job.id_, generation="lent", state=GENERATION_STATE.ok),
            JobSubmitResponse,
        ),
        JobSubmitResponse,
    )
    reward = kudos_hundredths(submitted.reward)
    done = expect(
        manual.submit_request(TextGenerateStatusRequest(id=accepted.id_), TextGenerateStatusResponse),
        TextGenerateStatusResponse,
    )
    assert done.done and done.generations[0].text == "lent"
    # The lender pays for it (crates/core/src/kudos.rs): the reward plus 1 kudos for the
    # generation, plus 1 kudos to queue the request.
    paid = lender_before - kudos_of(lender)
    assert paid == reward + 2 * BURN_PER_GENERATION, (paid, reward)
    used = expect(
        manual.submit_request(SharedKeyDetailsRequest(id=key), ExpiryStrSharedKeyDetailsResponse),
        ExpiryStrSharedKeyDetailsResponse,
    )
    # Whole kudos (the fields are integers), rounded down: spent through it, and left.
    assert (used.utilized, used.kudos) == (paid // 100, (40000 - paid) // 100), (used, paid)

    # Only its owner may delete it.
    expect_error(
        manual.submit_request(SharedKeyDeleteRequest(apikey=ANON_API_KEY, id=key), SharedKeyDeleteResponse),
        "Forbidden",
    )
    deleted = expect(
        manual.submit_request(SharedKeyDeleteRequest(apikey=lender, id=key), SharedKeyDeleteResponse),
        SharedKeyDeleteResponse,
    )
    assert deleted.message
    expect_error(
        manual.submit_request(SharedKeyDetailsRequest(id=key), ExpiryStrSharedKeyDetailsResponse),
        # The AI Horde's answer for a shared key it does not know.
        "InvalidAPIKey",
    )
    # A deleted key is no API key any more.
    expect_error(
        manual.submit_request(
            TextGenerateAsyncRequest(apikey=key, prompt=prompt, models=[TEXT_MODEL]), TextGenerateAsyncResponse
        ),
        "InvalidAPIKey",
    )


# --- teams --------------------------------------------------------------------------------------


def test_teams_create_list_get_modify_delete(text_worker: str, worker_owner: str, requester: tuple[str, str]) -> None:
    name = unique("compat-team")
    created = expect(
        manual.submit_request(CreateTeamRequest(apikey=worker_owner, name=name, info="compat"), ModifyTeam), ModifyTeam
    )
    team_id = created.id_
    assert created.name == name
    uuid.UUID(team_id)

    listed = expect(manual.submit_request(AllTeamDetailsRequest(), AllTeamDetailsResponse), AllTeamDetailsResponse)
    assert team_id in [str(t.id_) for t in listed.root]
    team = expect(manual.submit_request(SingleTeamDetailsRequest(team_id=team_id), TeamDetails), TeamDetails)
    assert (str(team.id_), team.name, team.info) == (team_id, name, "compat")
    assert team.creator == username_of(worker_owner)
    assert (team.worker_count, team.requests_fulfilled, team.workers) == (0, 0, [])

    # A worker of its creator's joins it, and shows in it.
    worker = expect(
        manual.submit_request(SingleWorkerNameDetailsRequest(worker_name=TEXT_WORKER), SingleWorkerDetailsResponse),
        SingleWorkerDetailsResponse,
    )
    joined = expect(
        manual.submit_request(
            ModifyWorkerRequest(apikey=worker_owner, worker_id=str(worker.id_), team=team_id), ModifyWorkerResponse
        ),
        ModifyWorkerResponse,
    )
    assert joined.team == name
    team = expect(manual.submit_request(SingleTeamDetailsRequest(team_id=team_id), TeamDetails), TeamDetails)
    assert team.worker_count == 1
    assert [(str(w.id_), w.name) for w in team.workers] == [(str(worker.id_), TEXT_WORKER)]

    renamed = unique("compat-team")
    modified = expect(
        manual.submit_request(ModifyTeamRequest(apikey=worker_owner, team_id=team_id, name=renamed, info="changed"), ModifyTeam),
        ModifyTeam,
    )
    assert (modified.id_, modified.name, modified.info) == (team_id, renamed, "changed")
    team = expect(manual.submit_request(SingleTeamDetailsRequest(team_id=team_id), TeamDetails), TeamDetails)
    assert (team.name, team.info) == (renamed, "changed")

    # An untrusted account may not create one, nor delete one (only its creator or a moderator).
    _, requester_key = requester
    expect_error(
        manual.submit_request(CreateTeamRequest(apikey=requester_key, name=unique("compat-team")), ModifyTeam),
        "UntrustedTeamCreation",
    )
    expect_error(
        manual.submit_request(DeleteTeamRequest(apikey=requester_key, team_id=team_id), DeleteTeamResponse),
        "NotModerator",
    )

    deleted = expect(
        manual.submit_request(DeleteTeamRequest(apikey=worker_owner, team_id=team_id), DeleteTeamResponse),
        DeleteTeamResponse,
    )
    assert (deleted.deleted_id, deleted.deleted_name) == (team_id, renamed)
    expect_error(manual.submit_request(SingleTeamDetailsRequest(team_id=team_id), TeamDetails), "TeamNotFound")
    # Its worker left it.
    worker = expect(
        manual.submit_request(SingleWorkerNameDetailsRequest(worker_name=TEXT_WORKER), SingleWorkerDetailsResponse),
        SingleWorkerDetailsResponse,
    )
    assert (worker.team.id_, worker.team.name) == (None, None)


# --- alchemy ------------------------------------------------------------------------------------


def test_interrogation_async_pop_submit_status(worker_owner: str, requester: tuple[str, str]) -> None:
    _, requester_key = requester
    webp, _ = webp_bytes(seed=11)
    accepted = expect(
        manual.submit_request(
            AlchemyAsyncRequest(
                apikey=requester_key,
                forms=[AlchemyAsyncRequestFormItem(name="caption"), AlchemyAsyncRequestFormItem(name="nsfw")],
                source_image=base64.b64encode(webp).decode(),
            ),
            AlchemyAsyncResponse,
        ),
        AlchemyAsyncResponse,
    )
    interrogation_id = str(accepted.id_)

    waiting = expect(
        manual.submit_request(AlchemyStatusRequest(apikey=requester_key, id=interrogation_id), AlchemyStatusResponse),
        AlchemyStatusResponse,
    )
    assert waiting.state == GENERATION_STATE.waiting
    assert sorted(f.form for f in waiting.forms) == ["caption", "nsfw"]

    results = {"caption": {"caption": "a pattern of coloured squares"}, "nsfw": {"nsfw": False}}
    owner_before = kudos_of(worker_owner)
    rewards = 0
    for _ in range(2):
        popped = expect(
            manual.submit_request(
                AlchemyPopRequest(
                    apikey=worker_owner, name=ALCHEMIST, priority_usernames=[], forms=["caption", "nsfw"], amount=1,
                    bridge_agent="potluck compat test:1:https://example.invalid/potluck",
                ),
                AlchemyJobPopResponse,
            ),
            AlchemyJobPopResponse,
        )
        [form] = popped.forms
        assert form.form in results
        # The image is served by potluck itself, to the alchemist that holds the form.
        assert form.source_image.startswith(potluck_base() + "/"), form.source_image
        fetched = requests.get(form.source_image, timeout=10)
        assert fetched.status_code == 200 and fetched.content == webp
        submitted = expect(
            manual.submit_request(
                AlchemyJobSubmitRequest(
                    apikey=worker_owner, id=form.id_, result=results.pop(form.form), state=GENERATION_STATE.ok
                ),
                AlchemyJobSubmitResponse,
            ),
            AlchemyJobSubmitResponse,
        )
        assert submitted.reward > 0
        rewards += kudos_hundredths(submitted.reward)
    assert results == {}

    # Nothing more to pop.
    empty = expect(
        manual.submit_request(
            AlchemyPopRequest(apikey=worker_owner, name=ALCHEMIST, priority_usernames=[], forms=["caption"], amount=1),
            AlchemyJobPopResponse,
        ),
        AlchemyJobPopResponse,
    )
    assert not empty.forms

    done = expect(
        manual.submit_request(AlchemyStatusRequest(apikey=requester_key, id=interrogation_id), AlchemyStatusResponse),
        AlchemyStatusResponse,
    )
    assert done.state == GENERATION_STATE.done
    by_form = {f.form: f for f in done.forms}
    assert by_form["caption"].state == GENERATION_STATE.done
    assert by_form["caption"].result.caption == "a pattern of coloured squares"
    assert by_form["nsfw"].result.nsfw is False
    assert kudos_of(worker_owner) - owner_before == rewards

    expect_error(
        manual.submit_request(AlchemyStatusRequest(apikey=requester_key, id=str(uuid.uuid4())), AlchemyStatusResponse),
        "RequestNotFound",
    )


def test_interrogation_cancelled_before_an_alchemist_takes_it(potluck, admin: str) -> None:
    requester_key = funded_account(potluck, admin, "compat-canceller")
    webp, _ = webp_bytes(seed=12)
    before = kudos_of(requester_key)
    accepted = expect(
        manual.submit_request(
            AlchemyAsyncRequest(
                apikey=requester_key, forms=[AlchemyAsyncRequestFormItem(name="caption")],
                source_image=base64.b64encode(webp).decode(),
            ),
            AlchemyAsyncResponse,
        ),
        AlchemyAsyncResponse,
    )
    cancelled = expect(
        manual.submit_request(AlchemyDeleteRequest(id=accepted.id_), AlchemyStatusResponse), AlchemyStatusResponse
    )
    # The AI Horde sums up an interrogation whose forms were all cancelled as "partial".
    assert cancelled.state == GENERATION_STATE.partial, cancelled
    [form] = cancelled.forms
    assert (form.form, form.state, form.result) == ("caption", GENERATION_STATE.cancelled, None)
    status = expect(
        manual.submit_request(AlchemyStatusRequest(apikey=requester_key, id=accepted.id_), AlchemyStatusResponse),
        AlchemyStatusResponse,
    )
    assert [f.state for f in status.forms] == [GENERATION_STATE.cancelled]
    # Cancelled before any alchemist took it, it costs nothing.
    assert kudos_of(requester_key) == before


# --- statistics ---------------------------------------------------------------------------------
#
# Every window but `total` counts whole minutes before the current one (as the AI Horde's
# compiled snapshots do), and the figures are cached for 10 s. So that the test needs no
# before-and-after, it generates with models of its own, which no other generation counts for.

STATS_PERIODS = ("minute", "hour", "day", "month", "total")
STATS_WAIT_SECS = 15
COUNTED_TOKENS = 30
COUNTED_PIXELSTEPS = 64 * 64 * 5


def text_totals() -> TextStatsModelsTotalResponse:
    return expect(
        manual.submit_request(TextStatsModelsTotalRequest(), TextStatsModelsTotalResponse), TextStatsModelsTotalResponse
    )


def image_totals() -> ImageStatsModelsTotalResponse:
    return expect(
        manual.submit_request(ImageStatsModelsTotalRequest(), ImageStatsModelsTotalResponse),
        ImageStatsModelsTotalResponse,
    )


def text_models() -> TextStatsModelResponse:
    return expect(manual.submit_request(TextStatsModelsRequest(), TextStatsModelResponse), TextStatsModelResponse)


def image_models() -> ImageStatsModelsResponse:
    return expect(manual.submit_request(ImageStatsModelsRequest(), ImageStatsModelsResponse), ImageStatsModelsResponse)


def windows_nest(text: TextStatsModelsTotalResponse, image: ImageStatsModelsTotalResponse) -> None:
    """Each window holds no more than the longer ones."""
    counts = [getattr(text, p) for p in STATS_PERIODS]
    assert all(set(c) == {"requests", "tokens"} for c in counts), counts
    for key in ("requests", "tokens"):
        assert [c[key] for c in counts] == sorted(c[key] for c in counts), counts
    counts = [getattr(image, p) for p in STATS_PERIODS]
    assert [c.images for c in counts] == sorted(c.images for c in counts), counts
    assert [c.ps for c in counts] == sorted(c.ps for c in counts), counts


def serve_once(pop, submit, queue) -> None:
    """Brings a worker online with an empty pop, queues a request for its model, pops it and
    submits its result."""
    empty = pop()
    assert empty.id_ is None
    queue()
    for _ in range(40):
        job = pop()
        if job.id_ is not None:
            submit(job)
            return
        time.sleep(0.25)
    pytest.fail("the job did not come")


def test_stats_count_a_text_and_an_image(worker_owner: str) -> None:
    text_model, image_model = unique("koboldcpp/compat-stats"), unique("compat-stats-image")
    text_worker_name, image_worker_name = unique("compat-stats-text"), unique("compat-stats-image")
    # One text of 30 tokens ...
    serve_once(
        pop=lambda: expect(
            manual.submit_request(
                TextGenerateJobPopRequest(apikey=worker_owner, name=text_worker_name, models=[text_model]),
                TextGenerateJobPopResponse,
            ),
            TextGenerateJobPopResponse,
        ),
        queue=lambda: expect(
            manual.submit_request(
                TextGenerateAsyncRequest(apikey=ANON_API_KEY, prompt="counted", models=[text_model]),
                TextGenerateAsyncResponse,
            ),
            TextGenerateAsyncResponse,
        ),
        submit=lambda job: expect(
            manual.submit_request(
                TextGenerationJobSubmitRequest(
                    apikey=worker_owner, id=job.id_, generation="x" * (4 * COUNTED_TOKENS), state=GENERATION_STATE.ok
                ),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        ),
    )
    # ... and one 64×64 image of 5 steps.
    webp, _ = webp_bytes(seed=5)
    serve_once(
        pop=lambda: expect(
            manual.submit_request(
                ImageGenerateJobPopRequest(
                    apikey=worker_owner, name=image_worker_name, models=[image_model], max_pixels=262_144
                ),
                ImageGenerateJobPopResponse,
            ),
            ImageGenerateJobPopResponse,
        ),
        queue=lambda: expect(
            manual.submit_request(
                ImageGenerateAsyncRequest(
                    apikey=ANON_API_KEY, prompt="counted", models=[image_model],
                    params=ImageGenerationInputPayload(width=64, height=64, steps=5),
                ),
                ImageGenerateAsyncResponse,
            ),
            ImageGenerateAsyncResponse,
        ),
        submit=lambda job: expect(
            manual.submit_request(
                ImageGenerationJobSubmitRequest(
                    apikey=worker_owner, id=job.id_, generation=base64.b64encode(webp).decode(),
                    state=GENERATION_STATE.ok, seed=1,
                ),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        ),
    )

    # `total` counts them as soon as the cache (if an earlier call filled it) has expired.
    deadline = time.monotonic() + STATS_WAIT_SECS
    while True:
        texts, images = text_models(), image_models()
        if text_model in texts.total and image_model in images.total:
            break
        assert time.monotonic() < deadline, f"the generations did not show in /stats within {STATS_WAIT_SECS} s"
        time.sleep(0.5)
    assert (texts.total[text_model], images.total[image_model]) == (1, 1), (texts, images)
    # The other windows end with the last whole minute: they count them once it is over.
    for models, model in ((texts, text_model), (images, image_model)):
        assert models.day.get(model, 0) == models.month.get(model, 0) in (0, 1), (model, models)
        for name, total in models.total.items():
            assert models.day.get(name, 0) <= models.month.get(name, 0) <= total, (name, models)
    assert text_model not in images.total and image_model not in texts.total

    text, image = text_totals(), image_totals()
    windows_nest(text, image)
    assert text.total["requests"] >= 1 and text.total["tokens"] >= COUNTED_TOKENS, text
    assert image.total.images >= 1 and image.total.ps >= COUNTED_PIXELSTEPS, image
    assert text.total["requests"] == sum(texts.total.values()), (text, texts)
    assert image.total.images == sum(images.total.values()), (image, images)


# --- worker messages ----------------------------------------------------------------------------


def test_worker_messages_create_list_get_delete(text_worker: str, moderator: str) -> None:
    worker = expect(
        manual.submit_request(SingleWorkerNameDetailsRequest(worker_name=TEXT_WORKER), SingleWorkerDetailsResponse),
        SingleWorkerDetailsResponse,
    )
    worker_id = str(worker.id_)

    created = expect(
        manual.submit_request(
            CreateWorkerMessageRequest(
                apikey=moderator, worker_id=worker_id, message="please update", origin="compat", expiry=12
            ),
            ResponseModelMessage,
        ),
        ResponseModelMessage,
    )
    assert (created.worker_id, created.message, created.origin, created.expiry) == (
        worker_id, "please update", "compat", 12,
    )
    message_id = created.model_extra["id"]

    # The worker's owner sees it among theirs. (horde-sdk cannot send the `worker_id` and
    # `user_id` filters: it takes them for path fields, and then puts them in the body of a GET.)
    listed = expect(
        manual.submit_request(AllWorkerMessagesRequest(apikey=text_worker), ResponseModelMessages),
        ResponseModelMessages,
    )
    assert "please update" in [m.message for m in listed.root]
    single = expect(
        manual.submit_request(SingleWorkerMessageRequest(id=message_id), ResponseModelMessage), ResponseModelMessage
    )
    assert (single.worker_id, single.message, single.origin) == (worker_id, "please update", "compat")

    # Only its writer (or a moderator) may delete it: not even the worker's owner.
    expect_error(
        manual.submit_request(DeleteWorkerMessageRequest(apikey=text_worker, id=message_id), DeleteWorkerMessageResponse),
        "Forbidden",
    )
    deleted = expect(
        manual.submit_request(DeleteWorkerMessageRequest(apikey=moderator, id=message_id), DeleteWorkerMessageResponse),
        DeleteWorkerMessageResponse,
    )
    assert deleted.message
    expect_error(
        # The AI Horde's rc for a WorkerMessage not found.
        manual.submit_request(SingleWorkerMessageRequest(id=message_id), ResponseModelMessage), "WorkermessageNotFound"
    )


# --- ratings and awards -------------------------------------------------------------------------


def test_rating_a_shared_image_request_pays_the_requester(potluck, image_worker: str, admin: str) -> None:
    requester_key = funded_account(potluck, admin, "compat-rater")
    prompt = f"rated {uuid.uuid4()}"
    paid_before = kudos_of(requester_key)
    accepted = expect(
        manual.submit_request(
            ImageGenerateAsyncRequest(
                apikey=requester_key, prompt=prompt, models=[IMAGE_MODEL], shared=True, r2=False,
                params=ImageGenerationInputPayload(width=512, height=512, steps=40, n=2),
            ),
            ImageGenerateAsyncResponse,
        ),
        ImageGenerateAsyncResponse,
    )
    image_ids = []
    for seed in (21, 22):
        job = pop_image(image_worker, prompt)
        webp, _ = webp_bytes(seed=seed)
        expect(
            manual.submit_request(
                ImageGenerationJobSubmitRequest(
                    apikey=image_worker, id=job.id_, generation=base64.b64encode(webp).decode(),
                    state=GENERATION_STATE.ok, seed=seed,
                ),
                JobSubmitResponse,
            ),
            JobSubmitResponse,
        )
        image_ids.append(str(job.id_))
    status = expect(
        manual.submit_request(ImageGenerateStatusRequest(id=accepted.id_), ImageGenerateStatusResponse),
        ImageGenerateStatusResponse,
    )
    assert status.done and sorted(str(g.id_) for g in status.generations) == sorted(image_ids)

    before = kudos_of(requester_key)
    # The reward is capped at what the request cost, less 1: it cost more than that here.
    assert paid_before - before > 1000 + 2 * BURN_PER_GENERATION
    rated = expect(
        manual.submit_request(
            # horde-sdk's RateRequest has no field for the request's id, which the path needs;
            # it fills the path from an extra `id_` (kept, as horde-sdk allows unknown fields).
            RateRequest(
                id_=str(accepted.id_),
                ratings=[AestheticRating(id=image_ids[1], rating=8, artifacts=0)],
            ),
            RateResponse,
        ),
        RateResponse,
    )
    # 5 for the rating and 5 for its artifacts rating; a single rating of 7 or more also names
    # the best image, which earns nothing more.
    assert kudos_hundredths(rated.reward) == 1000
    assert kudos_of(requester_key) - before == 1000
    expect_error(
        manual.submit_request(RateRequest(id_=str(accepted.id_), best=image_ids[0], ratings=[]), RateResponse),
        "AestheticsAlreadyExist",
    )


def test_kudos_award_by_an_admin(admin: str, moderator: str, requester: tuple[str, str]) -> None:
    username, requester_key = requester
    before = kudos_of(requester_key)
    awarded = expect(
        manual.submit_request(KudosAwardRequest(apikey=admin, username=username, amount=12.5), KudosAwardResponse),
        KudosAwardResponse,
    )
    assert awarded.awarded == 12.5
    assert kudos_of(requester_key) - before == 1250
    # Nobody else awards, moderators included.
    for other in (requester_key, moderator):
        expect_error(
            manual.submit_request(KudosAwardRequest(apikey=other, username=username, amount=1), KudosAwardResponse),
            "NotAllowedAwards",
        )
    assert kudos_of(requester_key) - before == 1250
    expect_error(
        manual.submit_request(KudosAwardRequest(apikey=admin, username="nobody#999999", amount=1), KudosAwardResponse),
        "InvalidAwardUsername",
    )

