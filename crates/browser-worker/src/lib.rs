//! The Contribute page's Web Worker: it checks the GPU, fetches the model (from the browser's
//! cache after the first visit), loads it into the engine (`crates/infer` on WebGPU) and serves
//! jobs through the same loop as `potluck-worker` (`crates/worker`), talking to the same
//! `/api/v2`. The page drives it with [`protocol::contribute::ToWorker`] messages and draws the
//! [`protocol::contribute::WorkerReport`]s it sends back.
//!
//! `worker.js` starts it: it keeps the messages that arrive while the wasm loads and hands them
//! to [`serve`], which takes over from there.

mod contributor;
mod download;
mod gpu_check;
mod status;

use futures_channel::mpsc;
use protocol::contribute::ToWorker;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// Serves the page's messages, `early` (those that came while the wasm loaded) first.
#[wasm_bindgen]
pub fn serve(early: js_sys::Array) {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (sender, commands) = mpsc::unbounded();
    let forward = move |data: JsValue| {
        // The page sends nothing else; anything unreadable is not for us.
        if let Some(message) = data
            .as_string()
            .and_then(|text| serde_json::from_str::<ToWorker>(&text).ok())
        {
            let _ = sender.unbounded_send(message);
        }
    };
    early.for_each(&mut |data, _, _| forward(data));
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| forward(event.data()));
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // It must live as long as the worker, which ends with the tab or `terminate()`.
    on_message.forget();
    wasm_bindgen_futures::spawn_local(contributor::run(commands, status::Status::new(scope)));
}
