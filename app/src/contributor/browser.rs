//! What only the browser can do: keep the key, check for WebGPU, run the Web Worker.

use js_sys::Reflect;
use protocol::contribute::{ToWorker, WorkerReport};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use super::SavedAccount;

const ACCOUNT_ITEM: &str = "potluck.contributor";
const WORKER_NAME_ITEM: &str = "potluck.worker-name";
/// The Web Worker's script; it loads the engine's wasm beside it.
const WORKER_SCRIPT: &str = "/pkg/worker.js";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn saved_account() -> Option<SavedAccount> {
    let text = storage()?.get_item(ACCOUNT_ITEM).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

pub fn save_account(account: &SavedAccount) -> Result<(), String> {
    let storage = storage().ok_or("this browser keeps no local storage")?;
    let text = serde_json::to_string(account).map_err(|e| e.to_string())?;
    storage
        .set_item(ACCOUNT_ITEM, &text)
        .map_err(|_| "this browser refused to keep the key".to_string())
}

pub fn forget_account() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(ACCOUNT_ITEM);
    }
}

/// This browser's worker name, made once and kept, so that it is the same worker on the server
/// from one visit to the next.
pub fn worker_name() -> String {
    let kept = storage().and_then(|s| s.get_item(WORKER_NAME_ITEM).ok().flatten());
    kept.unwrap_or_else(|| {
        let name = format!("browser-{}", random_suffix());
        if let Some(storage) = storage() {
            let _ = storage.set_item(WORKER_NAME_ITEM, &name);
        }
        name
    })
}

/// Eight hex digits, for names nobody picks by hand.
pub fn random_suffix() -> String {
    format!(
        "{:08x}",
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32
    )
}

/// Why this browser cannot lend its GPU, found without downloading anything: no WebGPU at
/// all, or no adapter behind it. The worker checks the rest (memory, the device itself).
pub async fn webgpu_missing() -> Option<String> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).ok()?;
    if gpu.is_undefined() || gpu.is_null() {
        return Some(protocol::contribute::NO_WEBGPU.into());
    }
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let adapter = match request
        .call0(&gpu)
        .map(|p| JsFuture::from(js_sys::Promise::from(p)))
    {
        Ok(pending) => pending.await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    (adapter.is_null() || adapter.is_undefined()).then(|| {
        "This browser has WebGPU but no GPU for it: it may be turned off in its settings, or \
         this GPU is not supported."
            .into()
    })
}

/// The account a key belongs to, asked of the API as any client would.
pub async fn account_of(apikey: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| "no headers")?;
    headers
        .set("apikey", apikey)
        .map_err(|_| "that key cannot be sent")?;
    init.set_headers(&headers);
    let answer = JsFuture::from(window.fetch_with_str_and_init("/api/v2/find_user", &init))
        .await
        .map_err(|_| "the server cannot be reached")?;
    let response: web_sys::Response = answer.unchecked_into();
    let body = JsFuture::from(response.json().map_err(|_| "no answer")?)
        .await
        .map_err(|_| "the server's answer is not JSON")?;
    let field = |name: &str| {
        Reflect::get(&body, &name.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    if response.ok() {
        field("username").ok_or_else(|| "the server's answer has no name".into())
    } else {
        Err(field("message")
            .unwrap_or_else(|| format!("the server answered {}", response.status())))
    }
}

/// The running Web Worker. Dropping it ends the worker at once.
pub struct Contributor {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

impl Contributor {
    /// Starts the Web Worker (only now is its bundle downloaded); `on_report` gets each report,
    /// `on_failure` the error that ended the worker if its script or wasm failed.
    pub fn spawn(
        on_report: impl Fn(WorkerReport) + 'static,
        on_failure: impl Fn(String) + 'static,
    ) -> Result<Self, String> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(WORKER_SCRIPT, &options)
            .map_err(|_| "this browser cannot start a Web Worker".to_string())?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(report) = event
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str(&text).ok())
            {
                on_report(report);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error =
            Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
                let message = format!("the worker stopped: {}", event.message());
                on_failure(message);
            });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Contributor {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    pub fn send(&self, message: &ToWorker) {
        if let Ok(text) = serde_json::to_string(message) {
            let _ = self.worker.post_message(&JsValue::from_str(&text));
        }
    }
}

impl Drop for Contributor {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
