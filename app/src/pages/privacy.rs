//! What Potluck stores and for how long, in plain words, with this server's own figures: the
//! statement `/api/v2/documents/privacy` serves too (`api::privacy::privacy_document`).

use leptos::prelude::*;
use leptos_meta::Title;

use super::loaded;
use crate::api::privacy::privacy_statement;

#[component]
pub fn PrivacyPage() -> impl IntoView {
    let statement = Resource::new(|| (), |_| privacy_statement());
    view! {
        <Title text="Privacy" />
        <section class="page prose">
            <h1>"Privacy"</h1>
            {loaded(statement, "Loading this server's settings…", |html| view! {
                // Rendered on the server from text it escaped.
                <div id="privacy-statement" inner_html=html></div>
            })}
        </section>
    }
}
