//! Small pieces of the hydrated page's behaviour shared by several pages.

use std::time::Duration;

use leptos::prelude::*;

/// A counter that the hydrated page bumps every `every` while the tab is visible; a resource
/// keyed on it refetches on each tick. On the server (and without JavaScript) it stays at 0.
pub fn ticks(every: Duration) -> ReadSignal<u64> {
    let (count, set_count) = signal(0u64);
    // Effects only run in the browser, so the interval exists only there.
    Effect::new(move |_| {
        let tick = move || {
            // A hidden tab does not need fresh data; it gets it on the next tick.
            if !document().hidden() {
                set_count.update(|n| *n += 1);
            }
        };
        match set_interval_with_handle(tick, every) {
            Ok(handle) => on_cleanup(move || handle.clear()),
            Err(err) => leptos::logging::error!("cannot refresh this page: {err:?}"),
        }
    });
    count
}

/// Like [`ticks`], but the count stops changing once `stopped` is true, so that a resource keyed
/// on it stops refetching (a finished request has nothing new to show).
pub fn ticks_until(every: Duration, stopped: RwSignal<bool>) -> Memo<u64> {
    let count = ticks(every);
    Memo::new(move |previous: Option<&u64>| match previous {
        Some(previous) if stopped.get() => *previous,
        _ => count.get(),
    })
}

/// True once the page is hydrated: effects run only in the browser. Pages put it in a
/// `data-hydrated` attribute, which tells people and tests that the page is interactive.
pub fn hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// A button that copies `text` to the clipboard and says whether it did.
#[component]
pub fn CopyButton(
    text: String,
    #[prop(default = "Copy")] label: &'static str,
    #[prop(optional)] id: Option<&'static str>,
) -> impl IntoView {
    let (state, set_state) = signal(None::<bool>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let promise = window().navigator().clipboard().write_text(&text);
                let copied = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                set_state.set(Some(copied));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&text, set_state);
    };
    view! {
        <button type="button" class="button" id=id on:click=copy>
            {move || match state.get() {
                None => label,
                Some(true) => "Copied",
                Some(false) => "Copy failed: select and copy by hand",
            }}
        </button>
    }
}
