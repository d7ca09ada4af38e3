//! The model the Contribute page offers to browsers (`--browser-model`): one file, served at
//! `/models/{file name}`, which a browser downloads once and keeps in its Cache Storage.
//!
//! tower-http's `ServeFile` serves the bytes (ranges, HEAD, Last-Modified). What it lacks is an
//! entity tag, by which a browser tells that the copy it keeps is still the file offered, and
//! resumes a download only on the same file: the SHA-256 of the content, computed once at start.
//! The file must therefore stay as it is while the server runs; to offer another, restart.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::api::contribute::BrowserModel;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use headers::{CacheControl, ContentType, ETag, HeaderMapExt, IfNoneMatch, IfRange};
use potluck_core::model_reference::ModelReference;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::api::ApiError;

/// The model file, checked and hashed.
pub struct ModelFile {
    file: ServeFile,
    etag: ETag,
    offer: BrowserModel,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("cannot read the browser model {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("the browser model {} is not a file", .0.display())]
    NotAFile(PathBuf),
    #[error(
        "the browser model's file name {0:?} becomes part of its URL, so it may only have ASCII \
         letters, digits, '.', '-' and '_'; rename the file"
    )]
    UnsafeName(PathBuf),
}

impl ModelFile {
    /// Checks that `path` is a readable file and hashes it. `name` is the model's name on the
    /// cluster; by default the file's name without its extension.
    pub async fn open(path: PathBuf, name: Option<String>) -> Result<ModelFile, ModelFileError> {
        let file_name = path
            .file_name()
            .and_then(OsStr::to_str)
            .filter(|name| is_url_safe(name))
            .ok_or_else(|| ModelFileError::UnsafeName(path.clone()))?
            .to_string();
        let name = name.unwrap_or_else(|| {
            let stem = path.file_stem().and_then(OsStr::to_str);
            stem.unwrap_or(&file_name).to_string()
        });
        // Hundreds of megabytes: off the async threads.
        let hashed = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || hash(&path))
        };
        let (bytes, digest) = hashed.await.expect("hashing the browser model panicked")?;
        tracing::info!(file = %path.display(), name, bytes, "offering the model to browsers");
        let etag = format!("\"sha256-{digest}\"");
        Ok(ModelFile {
            etag: etag
                .parse()
                .expect("a hex digest in quotes is an entity tag"),
            offer: BrowserModel {
                name,
                url: format!("/models/{file_name}"),
                bytes,
                etag,
            },
            file: ServeFile::new(path),
        })
    }

    /// Warns when the model reference knows the model by this name as another file: browsers
    /// would serve requests for it with a model that is not the one requesters asked for.
    pub fn compare_with(&self, reference: &ModelReference) {
        let expected = reference
            .text_model(&self.offer.name)
            .and_then(|m| m.sha256.as_deref());
        let digest = self
            .offer
            .etag
            .trim_matches('"')
            .trim_start_matches("sha256-");
        if let Some(expected) = expected.filter(|e| !e.eq_ignore_ascii_case(digest)) {
            tracing::warn!(
                name = %self.offer.name,
                expected,
                digest,
                "the model reference knows this model as another file"
            );
        }
    }

    /// What the Contribute page is told of it.
    pub fn offer(&self) -> &BrowserModel {
        &self.offer
    }
}

/// The file's length and the hex SHA-256 of its content.
fn hash(path: &Path) -> Result<(u64, String), ModelFileError> {
    let unreadable = |source| ModelFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(ModelFileError::NotAFile(path.to_path_buf()));
    }
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok((bytes, format!("{:x}", hasher.finalize())))
}

/// Names that are one path segment of a URL as they are, with nothing to escape.
fn is_url_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `/models/{file name}` for the model, if there is one; any other path under `/models/` is an
/// API error, never a page of the UI.
pub fn routes(model: Option<Arc<ModelFile>>) -> Router {
    let unknown = Router::new()
        .route("/models/", any(no_such_model))
        .route("/models/{*rest}", any(no_such_model));
    match model {
        None => unknown,
        Some(model) => Router::new()
            .route(
                &model.offer.url,
                get(serve).fallback(crate::api::method_not_allowed),
            )
            .with_state(model)
            .merge(unknown),
    }
}

async fn no_such_model() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "No such model file on this server",
    )
}

async fn serve(State(model): State<Arc<ModelFile>>, mut request: Request) -> Response {
    let headers = request.headers_mut();
    if let Some(if_none_match) = headers.typed_get::<IfNoneMatch>() {
        if !if_none_match.precondition_passes(&model.etag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            validators(response.headers_mut(), &model.etag);
            return response;
        }
        // Beside an entity tag, a date says nothing more (RFC 9110, 13.1.3).
        headers.remove(header::IF_MODIFIED_SINCE);
    }
    // ServeFile ignores If-Range, so it would send part of this file to complete a copy of
    // another one. Only our entity tag lets a range through; anything else gets the whole file.
    if headers
        .typed_get::<IfRange>()
        .is_some_and(|if_range| if_range.is_modified(Some(&model.etag), None))
    {
        headers.remove(header::RANGE);
    }
    let Ok(response) = model.file.clone().oneshot(request).await;
    let mut response = response.map(Body::new);
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        tracing::error!("the browser model's file went away while the server runs");
        return no_such_model().await.into_response();
    }
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        validators(response.headers_mut(), &model.etag);
    }
    if status.is_success() {
        // Whatever its extension suggests, it is model weights for the engine, not for display.
        response
            .headers_mut()
            .typed_insert(ContentType::octet_stream());
    }
    response
}

/// The browser keeps the file itself and asks each time whether it is still the same.
fn validators(headers: &mut HeaderMap, etag: &ETag) {
    headers.typed_insert(etag.clone());
    headers.typed_insert(CacheControl::new().with_no_cache());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_go_into_urls_unescaped() {
        assert!(is_url_safe("SmolLM2-135M-Instruct.Q4_1.gguf"));
        for unsafe_name in [
            "",
            "my model.gguf",
            "a%20b",
            "a?b",
            "a#b",
            "mödel.gguf",
            "{x}",
        ] {
            assert!(!is_url_safe(unsafe_name), "{unsafe_name:?}");
        }
    }

    #[tokio::test]
    async fn the_name_defaults_to_the_file_name_without_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.q8_0.gguf");
        std::fs::write(&path, b"abc").unwrap();
        let model = ModelFile::open(path.clone(), None).await.unwrap();
        let offer = model.offer();
        assert_eq!(offer.name, "tiny.q8_0");
        assert_eq!(offer.url, "/models/tiny.q8_0.gguf");
        assert_eq!(offer.bytes, 3);
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            offer.etag,
            "\"sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""
        );
        let named = ModelFile::open(path, Some("org/Tiny".into())).await;
        assert_eq!(named.unwrap().offer().name, "org/Tiny");
    }

    #[tokio::test]
    async fn missing_files_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ModelFile::open(dir.path().join("none.gguf"), None).await;
        assert!(matches!(missing, Err(ModelFileError::Unreadable { .. })));
        let directory = dir.path().join("dir.gguf");
        std::fs::create_dir(&directory).unwrap();
        let directory = ModelFile::open(directory, None).await;
        assert!(matches!(directory, Err(ModelFileError::NotAFile(_))));
    }
}
