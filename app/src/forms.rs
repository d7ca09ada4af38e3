//! What every form of the UI shares: the error a server function answers with, shown next to the
//! field it concerns, and the labelled fields themselves.
//!
//! Forms post to server functions, so they work without JavaScript too: Leptos then sends the
//! browser back to the form with the error in the address (`?__path=...&__err=...`), and the
//! form's action starts out with that error.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A refusal, shown next to the form field it concerns (or above the form when none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct FormError {
    /// The API's name of the field at fault (`prompt`, `params.width`), if one is.
    pub field: Option<String>,
    pub message: String,
}

impl FormError {
    pub fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        FormError {
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// The message for `field`, if the error concerns it.
    pub fn about(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }
}

impl FromServerFnError for FormError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => {
                FormError::new(None, "The server cannot be reached; try again")
            }
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => {
                let error =
                    FormError::new(None, format!("The form is incomplete or malformed: {e}"));
                // On the server: the sender's fault, a 400.
                #[cfg(feature = "ssr")]
                let error = crate::caller::invalid(error);
                error
            }
            other => FormError::new(None, other.to_string()),
        }
    }
}

/// The error of a form's server action: its latest answer in the hydrated page, or, after a
/// plain form post, the error Leptos put into the address the server sent the browser back to.
pub fn action_error<A>(action: ServerAction<A>) -> Signal<Option<FormError>>
where
    A: leptos::server_fn::ServerFn<Error = FormError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(Result::err))
}

/// An error that concerns no particular field, above the form.
#[component]
pub fn FormProblem(
    error: Signal<Option<FormError>>,
    /// Fields shown in the form: their errors appear next to them instead.
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.field.as_deref().is_none_or(|f| !fields.contains(&f)))
            .map(|e| view! { <p class="error form-problem" role="alert">{e.message}</p> })
    }
}

/// A labelled field with the API's error for it underneath. `name` is the form field's name
/// and the control's id; `api_field` the name the API's errors use for it.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    api_field: &'static str,
    error: Signal<Option<FormError>>,
    #[prop(optional)] hint: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.about(api_field));
    view! {
        <div class="field" class:invalid=move || message().is_some()>
            <label for=name>{label}</label>
            {children()}
            {hint.map(|hint| view! { <p class="hint" id=format!("{name}-hint")>{hint}</p> })}
            <p class="field-error" id=format!("{name}-error") data-field=api_field>
                {message}
            </p>
        </div>
    }
}

/// A number field. The browser's own range check is off (the forms are `novalidate`) so that
/// the API's message, which says what is allowed, is the one people see.
#[component]
pub fn NumberField(
    label: &'static str,
    name: &'static str,
    api_field: &'static str,
    value: &'static str,
    min: &'static str,
    max: &'static str,
    #[prop(default = "1")] step: &'static str,
    error: Signal<Option<FormError>>,
) -> impl IntoView {
    let invalid = move || error.get().and_then(|e| e.about(api_field)).is_some();
    view! {
        <Field label name api_field error>
            <input
                type="number"
                id=name
                name=name
                value=value
                min=min
                max=max
                step=step
                aria-describedby=format!("{name}-error")
                aria-invalid=move || invalid().to_string()
            />
        </Field>
    }
}

/// A form's submit button, disabled and relabelled while the form's action runs.
#[component]
pub fn SubmitButton(
    label: &'static str,
    busy: &'static str,
    pending: Memo<bool>,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(default = "button primary")] class: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" id=id class=class disabled=move || pending.get()>
            {move || if pending.get() { busy } else { label }}
        </button>
    }
}
