//! The model file: from the browser's Cache Storage when it holds the file with the ETag the
//! server has now, otherwise downloaded (with progress) and put there for the next visit.

use js_sys::{Reflect, Uint8Array};
use protocol::contribute::BrowserModel;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::WorkerGlobalScope;
use web_sys::{Cache, Headers, ReadableStreamDefaultReader, Request, Response, ResponseInit};

/// The Cache Storage cache that keeps models; it holds one, the current one.
const CACHE_NAME: &str = "potluck-models";

pub struct Downloaded {
    pub bytes: Vec<u8>,
    pub from_cache: bool,
}

/// The model's bytes; `progress(received, total)` follows a download.
pub async fn model(
    model: &BrowserModel,
    mut progress: impl FnMut(u64, u64),
) -> Result<Downloaded, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    // No Cache Storage (some private windows): the model is downloaded on every visit.
    let cache = open_cache(&scope).await.ok();
    if let Some(cache) = &cache {
        if let Some(bytes) = cached(cache, model).await {
            return Ok(Downloaded {
                bytes,
                from_cache: true,
            });
        }
    }
    let bytes = fetch(&scope, model, &mut progress).await?;
    if let Some(cache) = &cache {
        // A full disk or quota only costs the next visit a download.
        let _ = keep(cache, model, &bytes).await;
    }
    Ok(Downloaded {
        bytes,
        from_cache: false,
    })
}

fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

async fn open_cache(scope: &WorkerGlobalScope) -> Result<Cache, JsValue> {
    let opened = JsFuture::from(scope.caches()?.open(CACHE_NAME)).await?;
    Ok(opened.unchecked_into())
}

/// The cached copy, if it is the file the server has now.
async fn cached(cache: &Cache, model: &BrowserModel) -> Option<Vec<u8>> {
    let found = JsFuture::from(cache.match_with_str(&model.url))
        .await
        .ok()?;
    let response: Response = found.dyn_into().ok()?;
    let etag = response.headers().get("etag").ok()??;
    if etag != model.etag {
        return None;
    }
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    (bytes.len() as u64 == model.bytes).then_some(bytes)
}

async fn fetch(
    scope: &WorkerGlobalScope,
    model: &BrowserModel,
    progress: &mut impl FnMut(u64, u64),
) -> Result<Vec<u8>, String> {
    let failed = |error: JsValue| format!("the model's download failed: {}", describe(error));
    let answer = JsFuture::from(scope.fetch_with_str(&model.url))
        .await
        .map_err(failed)?;
    let response: Response = answer.unchecked_into();
    if !response.ok() {
        return Err(format!(
            "the server answered {} for the model",
            response.status()
        ));
    }
    let total = model.bytes;
    let mut bytes = Vec::with_capacity(total as usize);
    let body = response
        .body()
        .ok_or("the server sent the model without a body")?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    progress(0, total);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        let done = Reflect::get(&chunk, &"done".into()).map_err(failed)?;
        if done.is_truthy() {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(failed)?;
        let piece: Uint8Array = value.unchecked_into();
        let at = bytes.len();
        bytes.resize(at + piece.length() as usize, 0);
        piece.copy_to(&mut bytes[at..]);
        progress(bytes.len() as u64, total);
    }
    if bytes.len() as u64 != total {
        return Err(format!(
            "the model's download ended after {} of {total} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Puts the model in the cache with its ETag, and drops any other file there (an older model).
async fn keep(cache: &Cache, model: &BrowserModel, bytes: &[u8]) -> Result<(), JsValue> {
    let headers = Headers::new()?;
    headers.set("etag", &model.etag)?;
    headers.set("content-type", "application/octet-stream")?;
    let init = ResponseInit::new();
    init.set_headers(&headers);
    let body = Uint8Array::from(bytes);
    let response = Response::new_with_opt_buffer_source_and_init(Some(&body), &init)?;
    JsFuture::from(cache.put_with_str(&model.url, &response)).await?;
    let keys: js_sys::Array = JsFuture::from(cache.keys()).await?.unchecked_into();
    for request in keys.iter() {
        let request: Request = request.unchecked_into();
        if !request.url().ends_with(&model.url) {
            JsFuture::from(cache.delete_with_request(&request)).await?;
        }
    }
    Ok(())
}
