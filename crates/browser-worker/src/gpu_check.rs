//! Whether this browser can contribute, checked before anything is downloaded: WebGPU, a GPU
//! adapter that opens, and memory for the model.

use std::sync::Arc;

use infer::Gpu;
use js_sys::Reflect;
use protocol::contribute::BrowserModel;
use wasm_bindgen::JsValue;

/// The model is held three times over while it loads: downloaded, in the cache's copy, and on
/// the GPU.
const MEMORY_PER_MODEL_BYTE: f64 = 4.0;
/// A wasm32 tab addresses 4 GiB, and the model must fit beside the engine's own buffers.
const LARGEST_MODEL: u64 = 1 << 30;
const GIB: f64 = (1u64 << 30) as f64;

/// The GPU, opened, or why this browser cannot contribute, in words for the visitor.
pub async fn open_gpu(model: &BrowserModel) -> Result<Arc<Gpu>, String> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    let webgpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or_default();
    if webgpu.is_undefined() || webgpu.is_null() {
        return Err(protocol::contribute::NO_WEBGPU.into());
    }
    if model.bytes > LARGEST_MODEL {
        return Err(format!(
            "The model ({:.1} GB) is too large for a browser tab.",
            model.bytes as f64 / GIB
        ));
    }
    // Chromium's `deviceMemory`: GiB, rounded down to a power of two; other browsers say nothing.
    let memory = Reflect::get(&navigator, &"deviceMemory".into())
        .ok()
        .as_ref()
        .and_then(JsValue::as_f64);
    let needed = model.bytes as f64 * MEMORY_PER_MODEL_BYTE;
    if let Some(gib) = memory.filter(|gib| gib * GIB < needed) {
        return Err(format!(
            "This device has about {gib} GB of memory; the model needs {:.1} GB free.",
            needed / GIB
        ));
    }
    Gpu::new().await.map_err(|error| {
        format!(
            "WebGPU is here, but no GPU could be opened for it ({error}). It may be turned off \
             in this browser's settings, or this GPU is not supported."
        )
    })
}
