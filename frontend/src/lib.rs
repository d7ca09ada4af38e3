//! The wasm entry of the web UI. The script that Leptos' `HydrationScripts` puts in each page
//! loads `pkg/potluck.js` and calls [`hydrate`], which takes over the server-rendered HTML.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    // Panics go to the browser console with their message instead of "unreachable".
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
