//! What a private server tells every visitor: the banner on each page, read once per page load
//! and shared with the parts of the pages that change with it (the Register link and page, the
//! privacy page).

use leptos::prelude::*;

use crate::api::access::private_server;
use crate::forms::FormError;

/// Whether the server is private; provided by [`crate::App`] to every page.
#[derive(Clone, Copy)]
pub struct PrivateServer(OnceResource<Result<bool, FormError>>);

impl PrivateServer {
    pub fn load() -> Self {
        PrivateServer(OnceResource::new(private_server()))
    }

    /// The server's answer; a server that cannot say is taken as public, which shows no banner
    /// but refuses anonymous use all the same (the server decides, not the page).
    pub async fn get(self) -> bool {
        matches!(self.0.await, Ok(true))
    }
}

/// The server's `PrivateServer`, which [`crate::App`] provides.
pub fn private_server_context() -> PrivateServer {
    expect_context::<PrivateServer>()
}

/// The banner of a private server, on every page; nothing on a public one.
#[component]
pub fn PrivateBanner() -> impl IntoView {
    let private = private_server_context();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                private.get().await.then(|| view! {
                    <p class="notice private-banner" id="private-banner" role="note">
                        <strong>"Private server:"</strong>
                        " only accounts issued by its operator can use it."
                    </p>
                })
            })}
        </Suspense>
    }
}
