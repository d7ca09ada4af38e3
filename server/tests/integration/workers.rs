//! Workers: the list and details, changes by owners and moderators,
//! deletion, and the credential checks of pop and submit.

use crate::common::{assert_error, Server, ANON};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const MODEL: &str = "test/Tiny-1B";
const IMAGE_MODEL: &str = "stable_diffusion";

/// The id of the worker called `name`, looked up in the public list.
async fn worker_id(server: &Server, name: &str) -> String {
    let (status, list) = server.get("/workers", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn only_online_workers_are_listed_by_type() {
    let server = Server::start(&["--worker-stale-secs", "2"]);
    let (_, key) = server.register("owner").await;
    let (status, _) = server.pop_text(&key, "gone-quiet", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let stale_id = worker_id(&server, "gone-quiet").await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, _) = server.pop_text(&key, "text-one", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = server.pop_image(&key, "image-one", IMAGE_MODEL).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let (status, all) = server.get("/workers", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(names(&all), ["image-one", "text-one"]);
    let (_, text) = server.get("/workers?type=text", None).await;
    assert_eq!(names(&text), ["text-one"]);
    let text_worker = &text[0];
    assert_eq!(text_worker["type"], "text");
    assert_eq!(text_worker["online"], true);
    assert_eq!(text_worker["models"], json!([MODEL]));
    assert_eq!(text_worker["max_length"], 512);
    assert_eq!(text_worker["max_context_length"], 4096);
    assert_eq!(text_worker["maintenance_mode"], false);
    // Only its owner and moderators see whether it is paused.
    assert!(text_worker.get("paused").is_none(), "{text_worker}");
    assert!(text_worker.get("max_pixels").is_none(), "{text_worker}");
    let (_, image) = server.get("/workers?type=image", None).await;
    assert_eq!(names(&image), ["image-one"]);
    assert_eq!(image[0]["type"], "image");
    assert_eq!(image[0]["max_pixels"], 1024 * 1024);
    assert_eq!(image[0]["models"], json!([IMAGE_MODEL]));
    assert!(image[0].get("max_length").is_none(), "{}", image[0]);

    // As in the AI Horde, a type it does not know has no workers, and an empty one is all.
    for none in ["/workers?type=audio", "/workers?type=TEXT"] {
        let (status, list) = server.get(none, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list, json!([]), "{none}");
    }
    let (_, all_types) = server.get("/workers?type=", None).await;
    assert_eq!(names(&all_types), ["image-one", "text-one"]);
    // The stale worker is still there by id, marked offline.
    let (status, stale) = server.get(&format!("/workers/{stale_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{stale}");
    assert_eq!(stale["name"], "gone-quiet");
    assert_eq!(stale["online"], false);
    // A pop brings it back.
    server.pop_text(&key, "gone-quiet", MODEL).await;
    let (_, text) = server.get("/workers?type=text", None).await;
    assert_eq!(names(&text), ["gone-quiet", "text-one"]);
}

#[tokio::test]
async fn only_the_owner_and_moderators_see_the_owner() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    let id = worker_id(&server, "worker-one").await;
    let path = format!("/workers/{id}");

    for viewer in [owner.as_str(), moderator.as_str()] {
        let (status, details) = server.get(&path, Some(viewer)).await;
        assert_eq!(status, StatusCode::OK, "{details}");
        assert_eq!(details["owner"], format!("owner#{owner_id}"));
        assert_eq!(details["id"], id);
        assert_eq!(details["name"], "worker-one");
        let (_, list) = server.get("/workers", Some(viewer)).await;
        assert_eq!(list[0]["owner"], format!("owner#{owner_id}"));
    }
    for viewer in [Some(stranger.as_str()), Some(ANON), None] {
        let (status, details) = server.get(&path, viewer).await;
        assert_eq!(status, StatusCode::OK, "{details}");
        assert!(details["owner"].is_null(), "{details}");
        assert_eq!(details["name"], "worker-one");
        let (_, list) = server.get("/workers", viewer).await;
        assert!(list[0]["owner"].is_null(), "{list}");
    }
    let unknown = server.get("/workers/no-such-worker", None).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "WorkerNotFound");
    let unknown_uuid = server
        .get("/workers/00000000-0000-0000-0000-000000000000", None)
        .await;
    assert_error(&unknown_uuid, StatusCode::NOT_FOUND, "WorkerNotFound");
    // Worker ids are ids, not names.
    let by_name = server.get("/workers/worker-one", None).await;
    assert_error(&by_name, StatusCode::NOT_FOUND, "WorkerNotFound");
}

#[tokio::test]
async fn browser_workers_are_never_trusted() {
    let server = Server::start(&[]);
    let (_, owner) = server.admin_user("trusted-owner", &["--trusted"]);
    let pop_in_a_tab = || {
        let body = json!({"name": "in-a-tab", "models": [MODEL], "max_length": 512,
            "max_context_length": 4096, "browser": true});
        server.post("/generate/text/pop", Some(&owner), body)
    };
    let (status, answer) = pop_in_a_tab().await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.pop_text(&owner, "native", MODEL).await;
    let tab_id = worker_id(&server, "in-a-tab").await;
    let native_id = worker_id(&server, "native").await;

    let (_, tab) = server.get(&format!("/workers/{tab_id}"), None).await;
    assert_eq!(
        (&tab["trusted"], &tab["browser"]),
        (&json!(false), &json!(true))
    );
    let (_, native) = server.get(&format!("/workers/{native_id}"), None).await;
    assert_eq!(native["trusted"], true, "{native}");
    assert!(native.get("browser").is_none(), "{native}");
    let (_, list) = server.get("/workers", None).await;
    let listed = |name: &str| list.as_array().unwrap().iter().find(|w| w["name"] == name);
    let listed_tab = listed("in-a-tab").unwrap();
    assert_eq!(listed_tab["trusted"], false, "{listed_tab}");
    assert_eq!(listed_tab["browser"], true, "{listed_tab}");
    let listed_native = listed("native").unwrap();
    assert_eq!(listed_native["trusted"], true, "{listed_native}");
    assert!(listed_native.get("browser").is_none(), "{listed_native}");

    // A request for trusted workers only is not for the tab, but for its native sibling.
    let trusted_only =
        json!({"prompt": "trusted only", "trusted_workers": true, "models": [MODEL]});
    server.submit_text_request(ANON, trusted_only).await;
    let (_, popped) = pop_in_a_tab().await;
    assert!(popped["id"].is_null(), "{popped}");
    assert_eq!(popped["skipped"]["untrusted"], 1, "{popped}");
    let for_anyone = json!({"prompt": "for anyone", "models": [MODEL]});
    server.submit_text_request(ANON, for_anyone).await;
    let (_, popped) = pop_in_a_tab().await;
    assert_eq!(popped["payload"]["prompt"], "for anyone", "{popped}");
    let (_, popped) = server.pop_text(&owner, "native", MODEL).await;
    assert_eq!(popped["payload"]["prompt"], "trusted only", "{popped}");
}

#[tokio::test]
async fn requests_for_workers_that_keep_nothing_pass_keeping_workers_by() {
    let server = Server::start(&[]);
    let (_, owner) = server.admin_user("keeper-owner", &[]);
    let pop_keeper = || {
        let body = json!({"name": "keeper", "models": [MODEL], "max_length": 512,
            "max_context_length": 4096, "keeps_prompts": true});
        server.post("/generate/text/pop", Some(&owner), body)
    };
    let (status, answer) = pop_keeper().await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.pop_text(&owner, "forgetter", MODEL).await;
    let keeper_id = worker_id(&server, "keeper").await;
    let forgetter_id = worker_id(&server, "forgetter").await;
    let (_, keeper) = server.get(&format!("/workers/{keeper_id}"), None).await;
    assert_eq!(keeper["keeps_prompts"], true, "{keeper}");
    let (_, forgetter) = server.get(&format!("/workers/{forgetter_id}"), None).await;
    assert!(forgetter.get("keeps_prompts").is_none(), "{forgetter}");

    // A request for workers that keep nothing is not for the keeper, but for the other one.
    let keep_nothing =
        json!({"prompt": "keep nothing", "workers_keep_nothing": true, "models": [MODEL]});
    server.submit_text_request(ANON, keep_nothing).await;
    let (_, popped) = pop_keeper().await;
    assert!(popped["id"].is_null(), "{popped}");
    assert_eq!(popped["skipped"]["keeps_prompts"], 1, "{popped}");
    let (_, popped) = server.pop_text(&owner, "forgetter", MODEL).await;
    assert_eq!(popped["payload"]["prompt"], "keep nothing", "{popped}");
    // Without the flag, the keeper may take it.
    let for_anyone = json!({"prompt": "for anyone", "models": [MODEL]});
    server.submit_text_request(ANON, for_anyone).await;
    let (_, popped) = pop_keeper().await;
    assert_eq!(popped["payload"]["prompt"], "for anyone", "{popped}");
}

#[tokio::test]
async fn maintenance_stops_pops_until_the_owner_lifts_it() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    server.pop_text(&owner, "worker-one", MODEL).await;
    let id = worker_id(&server, "worker-one").await;
    let path = format!("/workers/{id}");

    let (status, answer) = server
        .put(&path, Some(&owner), json!({"maintenance": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"maintenance": true}));
    let (_, details) = server.get(&path, None).await;
    assert_eq!(details["maintenance_mode"], true);
    let request = server
        .submit_text_request(ANON, json!({"prompt": "wait for me", "models": [MODEL]}))
        .await;
    let refused = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "WorkerMaintenance");
    // A worker in maintenance serves nobody.
    let (_, models) = server.get("/status/models?type=text", None).await;
    assert_eq!(models, json!([]));
    let (_, status_now) = server
        .get(&format!("/generate/text/status/{request}"), None)
        .await;
    assert_eq!(status_now["waiting"], 1);
    assert_eq!(status_now["is_possible"], false);

    // The owner's own message reaches the worker.
    server
        .put(
            &path,
            Some(&owner),
            json!({"maintenance": true, "maintenance_msg": "Disk full, back soon"}),
        )
        .await;
    let refused = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "WorkerMaintenance");
    assert_eq!(refused.1["message"], "Disk full, back soon");

    let (status, answer) = server
        .put(&path, Some(&owner), json!({"maintenance": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, job) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["payload"]["prompt"], "wait for me");
    let (_, details) = server.get(&path, None).await;
    assert_eq!(details["maintenance_mode"], false);

    // A moderator may put someone else's worker in maintenance too.
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (status, _) = server
        .put(&path, Some(&moderator), json!({"maintenance": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "WorkerMaintenance");
}

#[tokio::test]
async fn owners_set_info_and_name_and_nobody_else_can() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    server.pop_text(&owner, "worker-one", MODEL).await;
    server.pop_text(&stranger, "taken-name", MODEL).await;
    let id = worker_id(&server, "worker-one").await;
    let path = format!("/workers/{id}");

    let (status, answer) = server
        .put(
            &path,
            Some(&owner),
            json!({"info": "A small test worker", "name": "  renamed-worker "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"info": "A small test worker", "name": "renamed-worker"})
    );
    let (_, details) = server.get(&path, None).await;
    assert_eq!(details["name"], "renamed-worker");
    assert_eq!(details["info"], "A small test worker");
    // The worker pops under its new name and keeps its id.
    let (status, _) = server.pop_text(&owner, "renamed-worker", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(worker_id(&server, "renamed-worker").await, id);

    for clash in ["taken-name", "TAKEN-NAME"] {
        let answer = server
            .put(&path, Some(&owner), json!({"name": clash}))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "WorkerNameAlreadyExists");
    }
    let too_short = server
        .put(&path, Some(&owner), json!({"name": "abc"}))
        .await;
    assert_error(&too_short, StatusCode::BAD_REQUEST, "BadRequest");
    let too_long = server
        .put(&path, Some(&owner), json!({"name": "w".repeat(101)}))
        .await;
    assert_error(&too_long, StatusCode::BAD_REQUEST, "TooLongWorkerName");
    // The AI Horde's rc for a long info names the name.
    let long_info = server
        .put(&path, Some(&owner), json!({"info": "i".repeat(1001)}))
        .await;
    assert_error(&long_info, StatusCode::BAD_REQUEST, "TooLongWorkerName");
    let long_message = server
        .put(
            &path,
            Some(&owner),
            json!({"maintenance": true, "maintenance_msg": "m".repeat(1001)}),
        )
        .await;
    assert_error(&long_message, StatusCode::BAD_REQUEST, "BadRequest");
    assert!(long_message.1["errors"]["maintenance_msg"].is_string());
    let (_, details) = server.get(&path, None).await;
    assert_eq!(details["name"], "renamed-worker");
    assert_eq!(details["info"], "A small test worker");

    for key in [Some(stranger.as_str()), Some(ANON), None] {
        let answer = server
            .put(&path, key, json!({"info": "hijacked", "maintenance": true}))
            .await;
        assert_error(&answer, StatusCode::FORBIDDEN, "NotOwner");
    }
    let wrong_key = server
        .put(&path, Some("AAAAAAAAAAAAAAAAAAAAAA"), json!({"info": "x"}))
        .await;
    assert_error(&wrong_key, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let pause = server
        .put(&path, Some(&owner), json!({"paused": true}))
        .await;
    assert_error(&pause, StatusCode::FORBIDDEN, "NotModerator");
    let unknown = server
        .put(
            "/workers/no-such-worker",
            Some(&owner),
            json!({"info": "x"}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "WorkerNotFound");
    let wrong_type = server
        .put(&path, Some(&owner), json!({"maintenance": "yes"}))
        .await;
    assert_error(&wrong_type, StatusCode::BAD_REQUEST, "BadRequest");

    let (_, details) = server.get(&path, None).await;
    assert_eq!(details["info"], "A small test worker");
    assert_eq!(details["maintenance_mode"], false);
    // Whether it is paused is for its owner and moderators alone.
    assert!(details["paused"].is_null(), "{details}");
    let (_, details) = server.get(&path, Some(&owner)).await;
    assert_eq!(details["paused"], false);
}

#[tokio::test]
async fn a_paused_worker_gets_no_jobs() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    let id = worker_id(&server, "worker-one").await;
    let path = format!("/workers/{id}");

    let (status, answer) = server
        .put(&path, Some(&moderator), json!({"paused": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"paused": true}));
    let (_, details) = server.get(&path, Some(&moderator)).await;
    assert_eq!(details["paused"], true);
    let request = server
        .submit_text_request(ANON, json!({"prompt": "not for you", "models": [MODEL]}))
        .await;
    for _ in 0..2 {
        let (status, nothing) = server.pop_text(&owner, "worker-one", MODEL).await;
        assert_eq!(status, StatusCode::OK, "{nothing}");
        assert!(nothing["id"].is_null(), "{nothing}");
        assert_eq!(nothing["ids"], json!([]));
    }
    let (_, waiting) = server
        .get(&format!("/generate/text/status/{request}"), None)
        .await;
    assert_eq!(waiting["waiting"], 1);
    assert_eq!(waiting["processing"], 0);
    // The owner cannot unpause.
    let unpause = server
        .put(&path, Some(&owner), json!({"paused": false}))
        .await;
    assert_error(&unpause, StatusCode::FORBIDDEN, "NotModerator");

    // Unpaused, the worker takes the request that waited.
    let (status, _) = server
        .put(&path, Some(&moderator), json!({"paused": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, job) = server.pop_text(&owner, "worker-one", MODEL).await;
    assert_eq!(job["payload"]["prompt"], "not for you");
}

#[tokio::test]
async fn deleting_a_worker() {
    let server = Server::start(&[]);
    let (owner_id, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    server.pop_text(&owner, "worker-one", MODEL).await;
    server.pop_text(&owner, "worker-two", MODEL).await;
    let id = worker_id(&server, "worker-one").await;
    let path = format!("/workers/{id}");

    for key in [Some(stranger.as_str()), Some(ANON), None] {
        let refused = server.delete(&path, key).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "NotModerator");
    }
    let (status, _) = server.get(&path, None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, deleted) = server.delete(&path, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted,
        json!({"deleted_id": id, "deleted_name": "worker-one"})
    );
    let gone = server.get(&path, None).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "WorkerNotFound");
    let again = server.delete(&path, Some(&owner)).await;
    assert_error(&again, StatusCode::NOT_FOUND, "WorkerNotFound");
    let modify = server.put(&path, Some(&owner), json!({"info": "x"})).await;
    assert_error(&modify, StatusCode::NOT_FOUND, "WorkerNotFound");
    let details = server.user(owner_id, Some(&owner)).await;
    assert_eq!(details["worker_count"], 1);
    let (_, list) = server.get("/workers", None).await;
    assert_eq!(names(&list), ["worker-two"]);

    // The name is free again: the next pop under it is a new worker.
    let (status, _) = server.pop_text(&stranger, "worker-one", MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let new_id = worker_id(&server, "worker-one").await;
    assert_ne!(new_id, id);

    // A moderator may delete anyone's worker.
    let two = worker_id(&server, "worker-two").await;
    let (status, deleted) = server
        .delete(&format!("/workers/{two}"), Some(&moderator))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted_name"], "worker-two");
    assert_eq!(server.user(owner_id, None).await["worker_count"], 0);
}

#[tokio::test]
async fn pops_check_the_worker_name_and_the_caller() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    server.pop_text(&owner, "worker-one", MODEL).await;

    for name in ["worker-one", "Worker-One"] {
        let stolen = server.pop_text(&stranger, name, MODEL).await;
        assert_error(&stolen, StatusCode::FORBIDDEN, "WrongCredentials");
        let stolen_image = server.pop_image(&stranger, name, IMAGE_MODEL).await;
        assert_error(&stolen_image, StatusCode::FORBIDDEN, "WrongCredentials");
    }
    let polymorphic = server.pop_image(&owner, "worker-one", IMAGE_MODEL).await;
    assert_error(
        &polymorphic,
        StatusCode::BAD_REQUEST,
        "PolymorphicNameConflict",
    );
    let (status, _) = server.pop_image(&owner, "painter", IMAGE_MODEL).await;
    assert_eq!(status, StatusCode::OK);
    let polymorphic = server.pop_text(&owner, "painter", MODEL).await;
    assert_error(
        &polymorphic,
        StatusCode::BAD_REQUEST,
        "PolymorphicNameConflict",
    );

    let anonymous = server.pop_text(ANON, "anon-worker", MODEL).await;
    assert_error(&anonymous, StatusCode::FORBIDDEN, "AnonForbiddenWorker");
    let anonymous = server.pop_image(ANON, "anon-worker", IMAGE_MODEL).await;
    assert_error(&anonymous, StatusCode::FORBIDDEN, "AnonForbiddenWorker");
    // A blank key is nobody's, not the anonymous one.
    let blank = server.pop_text("   ", "anon-worker", MODEL).await;
    assert_error(&blank, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let no_key = server
        .post(
            "/generate/text/pop",
            None,
            json!({"name": "anon-worker", "models": [MODEL]}),
        )
        .await;
    assert_error(&no_key, StatusCode::FORBIDDEN, "AnonForbiddenWorker");
    let wrong_key = server
        .pop_text("AAAAAAAAAAAAAAAAAAAAAA", "worker-one", MODEL)
        .await;
    assert_error(&wrong_key, StatusCode::UNAUTHORIZED, "InvalidAPIKey");
    let nameless = server
        .post(
            "/generate/text/pop",
            Some(&owner),
            json!({"models": [MODEL]}),
        )
        .await;
    assert_error(&nameless, StatusCode::BAD_REQUEST, "BadRequest");
    let too_long = server.pop_text(&owner, &"w".repeat(101), MODEL).await;
    assert_error(&too_long, StatusCode::BAD_REQUEST, "TooLongWorkerName");

    // None of the refused pops created or changed a worker.
    let (_, list) = server.get("/workers", None).await;
    assert_eq!(names(&list), ["painter", "worker-one"]);
    let (_, text) = server.get("/workers?type=text", None).await;
    assert_eq!(names(&text), ["worker-one"]);
}

#[tokio::test]
async fn submits_check_the_job_and_its_worker() {
    let server = Server::start(&[]);
    let (_, owner) = server.register("owner").await;
    let (_, stranger) = server.register("stranger").await;
    server.pop_text(&owner, "worker-one", MODEL).await;
    server.pop_text(&stranger, "other-worker", MODEL).await;
    let request = server
        .submit_text_request(ANON, json!({"prompt": "mine", "models": [MODEL]}))
        .await;
    let (_, job) = server.pop_text(&owner, "worker-one", MODEL).await;
    let job_id = job["id"].as_str().expect("a job").to_string();

    let stolen = server
        .post(
            "/generate/text/submit",
            Some(&stranger),
            json!({"id": job_id, "generation": "not mine"}),
        )
        .await;
    assert_error(&stolen, StatusCode::FORBIDDEN, "WrongCredentials");
    let anonymous = server
        .post(
            "/generate/text/submit",
            Some(ANON),
            json!({"id": job_id, "generation": "anonymous"}),
        )
        .await;
    assert_error(&anonymous, StatusCode::FORBIDDEN, "AnonForbiddenWorker");
    let unknown = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": "00000000-0000-0000-0000-000000000000", "generation": "x"}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "InvalidJobID");
    let not_a_uuid = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": "nonsense", "generation": "x"}),
        )
        .await;
    assert_error(&not_a_uuid, StatusCode::NOT_FOUND, "InvalidJobID");
    for body in [
        json!({"generation": "x"}),
        json!({"id": "", "generation": "x"}),
    ] {
        let missing = server
            .post("/generate/text/submit", Some(&owner), body)
            .await;
        assert_error(&missing, StatusCode::BAD_REQUEST, "BadRequest");
    }
    // A text job is no image job.
    let wrong_kind = server
        .post(
            "/generate/submit",
            Some(&owner),
            json!({"id": job_id, "generation": "R2"}),
        )
        .await;
    assert_error(&wrong_kind, StatusCode::NOT_FOUND, "InvalidJobID");
    let image_missing = server
        .post(
            "/generate/submit",
            Some(&owner),
            json!({"generation": "R2"}),
        )
        .await;
    assert_error(&image_missing, StatusCode::BAD_REQUEST, "BadRequest");

    // None of that touched the job: its worker submits it as usual.
    let (status, _) = server
        .post(
            "/generate/text/submit",
            Some(&owner),
            json!({"id": job_id, "generation": "mine indeed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = server
        .get(&format!("/generate/text/status/{request}"), None)
        .await;
    assert_eq!(done["done"], true);
    assert_eq!(done["generations"][0]["text"], "mine indeed");
    assert_eq!(done["generations"][0]["worker_name"], "worker-one");
    assert_eq!(server.kudos(&stranger).await, 0.0);
}

#[tokio::test]
async fn workers_are_found_by_name() {
    let server = Server::start(&["--worker-stale-secs", "2"]);
    let (_, owner) = server.register("owner").await;
    server.pop_text(&owner, "Gone-Quiet", MODEL).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    server.pop_text(&owner, "Worker-One", MODEL).await;
    server.pop_image(&owner, "painter", IMAGE_MODEL).await;

    // By name, whatever the case, online or not.
    for name in ["Worker-One", "worker-one"] {
        let (status, worker) = server.get(&format!("/workers/name/{name}"), None).await;
        assert_eq!(status, StatusCode::OK, "{worker}");
        assert_eq!(worker["name"], "Worker-One");
        assert_eq!(worker["online"], true);
    }
    let (status, quiet) = server.get("/workers/name/gone-quiet", None).await;
    assert_eq!(status, StatusCode::OK, "{quiet}");
    assert_eq!(quiet["online"], false);
    let unknown = server.get("/workers/name/nobody-here", None).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "WorkerNotFound");

    // The list's filter: online workers only, with the type when it is given too.
    let (_, found) = server.get("/workers?name=WORKER-ONE", None).await;
    assert_eq!(names(&found), ["Worker-One"]);
    let (_, offline) = server.get("/workers?name=Gone-Quiet", None).await;
    assert_eq!(offline, json!([]));
    let (_, other_type) = server
        .get("/workers?name=Worker-One&type=image", None)
        .await;
    assert_eq!(other_type, json!([]));
    let (_, painter) = server.get("/workers?name=painter&type=image", None).await;
    assert_eq!(names(&painter), ["painter"]);

    let id = worker_id(&server, "Worker-One").await;
    let nothing = server
        .put(&format!("/workers/{id}"), Some(&owner), json!({}))
        .await;
    assert_error(&nothing, StatusCode::BAD_REQUEST, "NoWorkerModSelected");
}

#[tokio::test]
async fn owners_have_at_most_their_share_of_workers() {
    let server = Server::start(&[]);
    let (_, moderator) = server.admin_user("moderator", &["--moderator"]);
    let (owner_id, owner) = server.register("farmer").await;
    for i in 0..3 {
        let (status, body) = server.pop_text(&owner, &format!("box-{i}"), MODEL).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = server.pop_text(&owner, "box-3", MODEL).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rc"], "TooManyWorkers");
    // The ones it has go on popping.
    assert_eq!(
        server.pop_text(&owner, "box-0", MODEL).await.0,
        StatusCode::OK
    );
    // A moderator's invitation raises the share.
    let (status, body) = server
        .put(
            &format!("/users/{owner_id}"),
            Some(&moderator),
            json!({"worker_invited": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server.pop_text(&owner, "box-3", MODEL).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.pop_text(&owner, "box-4", MODEL).await.0,
        StatusCode::FORBIDDEN
    );

    // A trusted owner has twenty.
    let (_, trusted) = server.admin_user("trusted", &["--trusted"]);
    for i in 0..20 {
        let (status, body) = server.pop_text(&trusted, &format!("rack-{i}"), MODEL).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = server.pop_text(&trusted, "rack-20", MODEL).await;
    assert_eq!(
        (status, body["rc"].as_str()),
        (StatusCode::FORBIDDEN, Some("TooManyWorkersTrusted"))
    );
}
