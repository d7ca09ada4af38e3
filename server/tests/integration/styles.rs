//! Styles, their examples and collections (`/api/v2/styles/*`, `/api/v2/collections`), and
//! requests made with them.

use crate::common::{assert_error, close, Server, ANON};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TEXT_MODEL: &str = "test/Tiny-1B";
const IMAGE_MODEL: &str = "stable_diffusion";

async fn create(server: &Server, key: &str, kind: &str, body: Value) -> String {
    let (status, made) = server
        .post(&format!("/styles/{kind}"), Some(key), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["message"], "OK");
    made["id"].as_str().unwrap().to_string()
}

fn text_style(name: &str) -> Value {
    json!({"name": name, "info": "Stories told by a pirate", "prompt": "Arr! {p}",
           "params": {"max_length": 40, "temperature": 0.9}, "models": [TEXT_MODEL],
           "tags": ["pirate", "story"]})
}

fn image_style(name: &str) -> Value {
    json!({"name": name, "prompt": "{p}, oil painting###{np}, blurry",
           "params": {"steps": 12, "sampler_name": "k_euler"}, "models": [IMAGE_MODEL]})
}

#[tokio::test]
async fn trusted_accounts_make_styles_within_the_rules() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, user) = server.register("user").await;
    for key in [user.as_str(), ANON] {
        let refused = server
            .post("/styles/text", Some(key), text_style("x"))
            .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "StylesRequiresCustomizer");
    }
    let bad = |change: Value| {
        let mut body = text_style("bad");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, rc) in [
        (bad(json!({"models": []})), "BadRequest"),
        (
            bad(json!({"models": ["a", "b", "c", "d", "e", "f"]})),
            "BadRequest",
        ),
        (
            bad(json!({"tags": ["1","2","3","4","5","6","7","8","9","10","11"]})),
            "BadRequest",
        ),
        (
            bad(json!({"prompt": "no placeholder"})),
            "StylePromptMissingVars",
        ),
        (bad(json!({"info": "short"})), "BadRequest"),
        (bad(json!({"name": "a::b"})), "BadRequest"),
        (bad(json!({"params": {"max_length": 5000}})), "BadRequest"),
    ] {
        let refused = server.post("/styles/text", Some(&creator), body).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, rc);
    }
    let no_np = server
        .post(
            "/styles/image",
            Some(&creator),
            json!({"name": "x", "prompt": "{p} only", "models": [IMAGE_MODEL]}),
        )
        .await;
    assert_error(&no_np, StatusCode::BAD_REQUEST, "StylePromptMissingVars");
    let steps = server
        .post(
            "/styles/image",
            Some(&creator),
            json!({"name": "x", "params": {"steps": 0}, "models": [IMAGE_MODEL]}),
        )
        .await;
    assert_error(&steps, StatusCode::BAD_REQUEST, "TooManySteps");

    let id = create(&server, &creator, "text", text_style("pirate")).await;
    let again = server
        .post("/styles/text", Some(&creator), text_style("pirate"))
        .await;
    assert_error(&again, StatusCode::BAD_REQUEST, "BadRequest");
    // The image default template takes both prompts.
    let image = create(
        &server,
        &creator,
        "image",
        json!({"name": "plain", "models": [IMAGE_MODEL]}),
    )
    .await;
    let (_, plain) = server.get(&format!("/styles/image/{image}"), None).await;
    assert_eq!(plain["prompt"], "{p}{np}");
    assert_eq!(plain["examples"], json!([]));

    let (status, style) = server.get(&format!("/styles/text/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{style}");
    assert_eq!(style["name"], "pirate");
    assert_eq!(style["prompt"], "Arr! {p}");
    assert_eq!(style["params"]["temperature"], 0.9);
    assert_eq!(style["models"], json!([TEXT_MODEL]));
    assert_eq!(style["tags"], json!(["pirate", "story"]));
    assert!(style["creator"].as_str().unwrap().starts_with("creator#"));
    assert_eq!(style["use_count"], 0);
    assert_eq!(style["public"], true);
    assert!(style.get("examples").is_none(), "{style}");
}

#[tokio::test]
async fn styles_are_found_by_id_name_and_listing() {
    let server = Server::start(&[]);
    let (creator_id, creator) = server.admin_user("creator", &["--trusted"]);
    let pirate = create(&server, &creator, "text", text_style("pirate")).await;
    let mut hidden = text_style("hidden");
    hidden["public"] = json!(false);
    hidden["tags"] = json!(["secret"]);
    let hidden = create(&server, &creator, "text", hidden).await;
    let image = create(&server, &creator, "image", image_style("oil")).await;

    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, listed) = server.get("/styles/text", None).await;
    assert_eq!(names(&listed), ["pirate"], "private styles are not listed");
    let (_, by_tag) = server.get("/styles/text?tag=story&sort=age", None).await;
    assert_eq!(names(&by_tag), ["pirate"]);
    let (_, none) = server.get("/styles/text?model=other", None).await;
    assert_eq!(none, json!([]));
    let (_, page_two) = server.get("/styles/text?page=2", None).await;
    assert_eq!(page_two, json!([]));
    let (_, images) = server.get("/styles/image", None).await;
    assert_eq!(names(&images), ["oil"]);
    assert_error(
        &server.get("/styles/text?sort=newest", None).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );

    // Whoever knows a private style's id or name may see it.
    let (status, _) = server.get(&format!("/styles/text/{hidden}"), None).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "pirate".to_string(),
        "style::pirate".to_string(),
        format!("creator#{creator_id}::pirate"),
        format!("creator#{creator_id}::style::pirate"),
    ] {
        // A `#` in a URL starts its fragment: clients send it encoded.
        let encoded = name.replace('#', "%23");
        let (status, found) = server
            .get(&format!("/styles/text_by_name/{encoded}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {found}");
        assert_eq!(found["id"], pirate.as_str());
    }
    assert_error(
        &server.get("/styles/text_by_name/nobody", None).await,
        StatusCode::NOT_FOUND,
        "StyleNotFound",
    );
    assert_error(
        &server.get(&format!("/styles/text/{image}"), None).await,
        StatusCode::BAD_REQUEST,
        "StyleGetMistmatch",
    );
    assert_error(
        &server.get("/styles/image_by_name/pirate", None).await,
        StatusCode::BAD_REQUEST,
        "StyleGetMistmatch",
    );
    for id in ["00000000-0000-4000-8000-000000000000", "not-an-id"] {
        assert_error(
            &server.get(&format!("/styles/image/{id}"), None).await,
            StatusCode::NOT_FOUND,
            "StyleNotFound",
        );
    }
}

#[tokio::test]
async fn creators_change_their_styles_and_moderators_may_delete_them() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, other) = server.admin_user("other", &["--trusted"]);
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    let id = create(&server, &creator, "text", text_style("pirate")).await;
    let path = format!("/styles/text/{id}");
    let change =
        json!({"prompt": "Yo ho! {p}", "models": [TEXT_MODEL, "test/Other-7B"], "public": false});

    assert_error(
        &server
            .call(Method::PATCH, &path, Some(&other), Some(change.clone()))
            .await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    assert_error(
        &server
            .call(
                Method::PATCH,
                &path,
                Some(&creator),
                Some(json!({"prompt": "no mark"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "StylePromptMissingVars",
    );
    let (status, changed) = server
        .call(Method::PATCH, &path, Some(&creator), Some(change))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["id"], id.as_str());
    let (_, style) = server.get(&path, None).await;
    assert_eq!(style["prompt"], "Yo ho! {p}");
    assert_eq!(style["models"].as_array().unwrap().len(), 2);
    assert_eq!(style["public"], false);
    assert_eq!(style["tags"], json!(["pirate", "story"]), "tags unchanged");
    let (status, _) = server
        .call(Method::PATCH, &path, Some(&creator), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);

    assert_error(
        &server.delete(&path, Some(ANON)).await,
        StatusCode::FORBIDDEN,
        "StylesAnonForbidden",
    );
    assert_error(
        &server.delete(&path, Some(&other)).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    let (status, deleted) = server.delete(&path, Some(&moderator)).await;
    assert_eq!(
        (status, deleted),
        (StatusCode::OK, json!({"message": "OK"}))
    );
    assert_error(
        &server.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "StyleNotFound",
    );
}

#[tokio::test]
async fn image_styles_keep_up_to_four_examples_and_one_primary() {
    let server = Server::start(&[]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, other) = server.register("other").await;
    let id = create(&server, &creator, "image", image_style("oil")).await;
    let text = create(&server, &creator, "text", text_style("pirate")).await;
    let server = &server;
    let add = |style: &str, url: &str, key: &str| {
        let body = json!({"url": url, "primary": false});
        let path = format!("/styles/image/{style}/example");
        let key = key.to_string();
        async move { server.post(&path, Some(&key), body).await }
    };
    assert_error(
        &add(&id, "http://example.org/a.webp", &creator).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &add(&text, "https://example.org/a.webp", &creator).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &add(&id, "https://example.org/a.webp", &other).await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    let mut examples = Vec::new();
    for n in 1..=4 {
        let (status, added) = add(&id, &format!("https://example.org/{n}.webp"), &creator).await;
        assert_eq!(status, StatusCode::OK, "{added}");
        examples.push(added["id"].as_str().unwrap().to_string());
    }
    assert_error(
        &add(&id, "https://example.org/5.webp", &creator).await,
        StatusCode::FORBIDDEN,
        "TooManyStyleExamples",
    );
    let (_, style) = server.get(&format!("/styles/image/{id}"), None).await;
    let primaries = |style: &Value| -> Vec<String> {
        style["examples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        primaries(&style),
        [examples[0].clone()],
        "the first is primary"
    );

    let example = |n: usize| format!("/styles/image/{id}/example/{}", examples[n]);
    assert_error(
        &server
            .call(
                Method::PATCH,
                &example(1),
                Some(&creator),
                Some(json!({"url": "https://example.org/1.webp"})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "ExampleURLAlreadyInUse",
    );
    assert_error(
        &server
            .call(
                Method::PATCH,
                &example(0),
                Some(&creator),
                Some(json!({"primary": false})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    let (status, _) = server
        .call(
            Method::PATCH,
            &example(2),
            Some(&creator),
            Some(json!({"primary": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, style) = server.get(&format!("/styles/image/{id}"), None).await;
    assert_eq!(primaries(&style), [examples[2].clone()]);
    let (status, _) = server.delete(&example(2), Some(&creator)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, style) = server.get(&format!("/styles/image/{id}"), None).await;
    assert_eq!(
        primaries(&style),
        [examples[0].clone()],
        "the oldest takes over"
    );
    assert_error(
        &server.delete(&example(2), Some(&creator)).await,
        StatusCode::NOT_FOUND,
        "StyleExampleNotFound",
    );
}

#[tokio::test]
async fn a_text_request_with_a_style_takes_its_template_models_and_params() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    let (creator_id, creator) = server.admin_user("creator", &["--trusted"]);
    let (requester_id, requester) = server.register("requester").await;
    server.grant(requester_id, 50.0).await;
    server.pop_text(&worker, "writer", TEXT_MODEL).await;
    let id = create(&server, &creator, "text", text_style("pirate")).await;

    let body = json!({"prompt": "tell me of {np} treasure", "style": "pirate",
                      "params": {"n": 2, "max_length": 200, "temperature": 0.1},
                      "models": ["test/Other-7B"]});
    server.submit_text_request(&requester, body).await;
    let (_, job) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
    assert_eq!(job["model"], TEXT_MODEL, "{job}");
    assert_eq!(job["payload"]["prompt"], "Arr! tell me of {np} treasure");
    assert_eq!(job["payload"]["max_length"], 40);
    assert_eq!(job["payload"]["temperature"], 0.9);
    // Its own n stays: the second generation waits.
    let (_, second) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
    assert!(second["id"].is_string(), "{second}");

    // The creator earned the style's fee from the requester (who paid 1 more to queue), and
    // the style counts its use.
    assert!(close(server.kudos(&requester).await, 47.0));
    let (_, creator_details) = server.get(&format!("/users/{creator_id}"), None).await;
    let styled = &creator_details["kudos_details"]["styled"];
    assert!(close(styled.as_f64().unwrap(), 2.0), "{creator_details}");
    assert_eq!(creator_details["kudos_details"]["styled"], 2.0);
    let (_, style) = server.get(&format!("/styles/text/{id}"), None).await;
    assert_eq!(style["use_count"], 1);

    let mismatch = server
        .post(
            "/generate/async",
            Some(ANON),
            json!({"prompt": "x", "style": id}),
        )
        .await;
    assert_error(&mismatch, StatusCode::BAD_REQUEST, "StyleMismatch");
    let unknown = server
        .post(
            "/generate/text/async",
            Some(ANON),
            json!({"prompt": "x", "style": "nope"}),
        )
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "StyleNotFound");
}

#[tokio::test]
async fn an_image_request_with_a_style_keeps_its_size_and_negative_prompt() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("painter-owner", &["--trusted"]);
    let (_, creator) = server.admin_user("creator", &["--trusted"]);
    server.pop_image(&worker, "painter", IMAGE_MODEL).await;
    let id = create(&server, &creator, "image", image_style("oil")).await;
    let mut nsfw = image_style("raw");
    nsfw["prompt"] = json!("{p}, raw photo {np}");
    nsfw["nsfw"] = json!(false);
    create(&server, &creator, "image", nsfw).await;

    let body = json!({"prompt": "a lighthouse###fog", "style": id,
                      "params": {"width": 768, "height": 512, "steps": 50}});
    let (status, _) = server.post("/generate/async", Some(ANON), body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, job) = server.pop_image(&worker, "painter", IMAGE_MODEL).await;
    let payload = &job["payload"];
    // The worker gets the negative prompt after ` ### `, as every image prompt.
    assert_eq!(
        payload["prompt"], "a lighthouse, oil painting ### fog, blurry",
        "{job}"
    );
    assert_eq!(
        (payload["width"].clone(), payload["height"].clone()),
        (json!(768), json!(512))
    );
    assert_eq!(payload["ddim_steps"], 12);
    assert_eq!(payload["sampler_name"], "k_euler");

    // A template without `###`: the requester's negative prompt brings its own.
    let body = json!({"prompt": "a cat###dogs", "style": "raw"});
    server.post("/generate/async", Some(ANON), body).await;
    let (_, job) = server.pop_image(&worker, "painter", IMAGE_MODEL).await;
    assert_eq!(job["payload"]["prompt"], "a cat, raw photo ### dogs");
}

#[tokio::test]
async fn collections_group_styles_of_one_kind() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    let (creator_id, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, user) = server.register("curator").await;
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    server.pop_text(&worker, "writer", TEXT_MODEL).await;
    let pirate = create(&server, &creator, "text", text_style("pirate")).await;
    let mut poet = text_style("poet");
    poet["prompt"] = json!("In verse: {p}");
    let poet = create(&server, &creator, "text", poet).await;
    let oil = create(&server, &creator, "image", image_style("oil")).await;

    let refused = server
        .post(
            "/collections",
            Some(ANON),
            json!({"name": "x", "styles": [pirate]}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "StylesAnonForbidden");
    for (styles, rc) in [
        (json!([]), "BadRequest"),
        (json!(["no such style"]), "BadRequest"),
        (json!([pirate, oil]), "StyleMismatch"),
    ] {
        let refused = server
            .post(
                "/collections",
                Some(&user),
                json!({"name": "x", "styles": styles}),
            )
            .await;
        assert_error(&refused, StatusCode::BAD_REQUEST, rc);
    }
    // By id or by name, anyone's styles.
    let (status, made) = server
        .post(
            "/collections",
            Some(&user),
            json!({"name": "voices", "info": "Ways of telling", "styles": [pirate, format!("creator#{creator_id}::poet")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let (_, collection) = server.get(&format!("/collections/{id}"), None).await;
    assert_eq!(collection["type"], "text");
    assert_eq!(collection["info"], "Ways of telling");
    assert_eq!(collection["styles"][0]["id"], pirate.as_str());
    assert_eq!(
        collection["styles"][1]["name"],
        format!("creator#{creator_id}::style::poet")
    );
    let (_, by_name) = server.get("/collection_by_name/voices", None).await;
    assert_eq!(by_name["id"], id.as_str());
    let (_, texts) = server.get("/collections?type=text", None).await;
    assert_eq!(texts.as_array().unwrap().len(), 1);
    let (_, images) = server.get("/collections?type=image", None).await;
    assert_eq!(images, json!([]));
    assert_error(
        &server.get("/collections?type=audio", None).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(
        &server.get("/collection_by_name/nothing", None).await,
        StatusCode::NOT_FOUND,
        "CollectionNotFound",
    );

    // A request naming it gets one of its styles.
    server
        .submit_text_request(&user, json!({"prompt": "the sea", "style": "voices"}))
        .await;
    let (_, job) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
    let prompt = job["payload"]["prompt"].as_str().unwrap();
    assert!(
        ["Arr! the sea", "In verse: the sea"].contains(&prompt),
        "{prompt}"
    );
    let (_, counted) = server.get(&format!("/collections/{id}"), None).await;
    assert_eq!(counted["use_count"], 1);

    let path = format!("/collections/{id}");
    assert_error(
        &server
            .call(
                Method::PATCH,
                &path,
                Some(&creator),
                Some(json!({"name": "mine"})),
            )
            .await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );
    assert_error(
        &server
            .call(
                Method::PATCH,
                &path,
                Some(&user),
                Some(json!({"styles": [oil]})),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "StyleMismatch",
    );
    let (status, _) = server
        .call(
            Method::PATCH,
            &path,
            Some(&user),
            Some(json!({"styles": [poet], "public": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, changed) = server.get(&path, None).await;
    assert_eq!(changed["styles"].as_array().unwrap().len(), 1);
    let (_, listed) = server.get("/collections", None).await;
    assert_eq!(listed, json!([]), "private now");
    let (status, _) = server.delete(&path, Some(&moderator)).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &server.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "CollectionNotFound",
    );
}

#[tokio::test]
async fn a_styles_shared_key_pays_for_its_requests_and_serves_nothing_else() {
    let server = Server::start(&[]);
    let (_, worker) = server.admin_user("worker-owner", &["--trusted"]);
    let (creator_id, creator) = server.admin_user("creator", &["--trusted"]);
    let (_, moderator) = server.admin_user("mod", &["--moderator"]);
    server.grant(creator_id, 100.0).await;
    server.pop_text(&worker, "writer", TEXT_MODEL).await;
    let (_, key) = server
        .put(
            "/sharedkeys",
            Some(&creator),
            json!({"max_text_tokens": 16}),
        )
        .await;
    let shared = key["id"].as_str().unwrap().to_string();
    let (_, stranger_key) = server.put("/sharedkeys", Some(&moderator), json!({})).await;

    let mut style = text_style("sponsored");
    style["sharedkey"] = json!(stranger_key["id"]);
    let refused = server
        .post("/styles/text", Some(&creator), style.clone())
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "SharedKeyInvalid");
    style["sharedkey"] = json!(shared);
    create(&server, &creator, "text", style).await;

    // Given to a style, the key serves only through it.
    let direct = server
        .post(
            "/generate/text/async",
            Some(&shared),
            json!({"prompt": "x"}),
        )
        .await;
    assert_error(&direct, StatusCode::FORBIDDEN, "SharedKeyAssignedStyles");

    // An anonymous request with the style is the key's owner's, whatever the key's limits.
    let id = server
        .submit_text_request(ANON, json!({"prompt": "ahoy", "style": "sponsored"}))
        .await;
    let (_, job) = server.pop_text(&worker, "writer", TEXT_MODEL).await;
    assert_eq!(job["payload"]["max_length"], 40);
    server
        .post(
            "/generate/text/submit",
            Some(&worker),
            json!({"id": job["id"], "generation": "Ahoy there, matey!"}),
        )
        .await;
    let (_, done) = server
        .get(&format!("/generate/text/status/{id}"), None)
        .await;
    // The key's owner paid the job (its reward and 1) and 1 to queue it, from the key.
    let cost = done["kudos"].as_f64().unwrap() + 2.0;
    assert!(close(server.kudos(&creator).await, 100.0 - cost));
    let (_, spent) = server.get(&format!("/sharedkeys/{shared}"), None).await;
    assert_eq!(spent["utilized"], cost.floor() as i64, "{spent}");
}
