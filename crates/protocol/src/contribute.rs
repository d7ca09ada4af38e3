//! What the Contribute page and the Web Worker that serves jobs in it tell each other. They
//! travel as JSON strings through `postMessage`; the page (the web UI's wasm) and the worker
//! (`browser-worker`'s wasm) are built from different crates, so the shapes live here.

use serde::{Deserialize, Serialize};

/// What the page, and the worker after it, tell a visitor whose browser has no WebGPU.
pub const NO_WEBGPU: &str = "This browser has no WebGPU, which contributing needs. Recent \
     Chrome, Edge and Safari have it; Firefox has it from version 141 on Windows.";

/// The model the server offers to browsers (its `--browser-model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrowserModel {
    /// Its name on the cluster, which requesters ask for.
    pub name: String,
    /// Where the file is, on the same server (`/models/...`).
    pub url: String,
    pub bytes: u64,
    /// The file's ETag: a copy in the browser's cache with the same one is the same file.
    pub etag: String,
}

/// From the page to the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Start(StartContributing),
    /// Finish the current job, take no more, keep the model loaded.
    Pause,
    Resume,
    /// Finish the current job and stop; a second `Stop` hands the job back at once.
    Stop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartContributing {
    /// The server's address (the page's origin).
    pub server: String,
    pub api_key: String,
    /// Unique on the server; the page keeps one per browser.
    pub worker_name: String,
    pub model: BrowserModel,
}

/// From the worker to the page: where it is and what it has done, sent whenever that changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    pub phase: Phase,
    pub jobs_done: u64,
    pub jobs_faulted: u64,
    pub tokens: u64,
    /// While generating jobs.
    pub tokens_per_second: f64,
    /// Earned by this tab since it started.
    pub kudos: f64,
    /// The decoding speed the warm-up measured, once the model is loaded.
    pub warm_up_tokens_per_second: Option<f64>,
    /// Whether the model came from the browser's cache (no download), once it is loaded.
    pub model_from_cache: Option<bool>,
    /// Generating a job right now.
    pub busy: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    /// Opening the GPU and checking it is fit for the model.
    #[default]
    Checking,
    Downloading {
        received: u64,
        total: u64,
    },
    /// Putting the model on the GPU and measuring its speed.
    Loading,
    Serving,
    /// Asked to pause or stop: finishing the current job.
    Finishing,
    Paused,
    Stopped,
    /// This browser cannot contribute (no WebGPU, too little memory); nothing was started.
    Unsupported {
        message: String,
    },
    /// Something went wrong on the way (the download, the GPU, the server refused the worker).
    Failed {
        message: String,
    },
}

impl Phase {
    /// Whether the worker is done: nothing more will come from it.
    pub fn is_over(&self) -> bool {
        matches!(
            self,
            Phase::Stopped | Phase::Unsupported { .. } | Phase::Failed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let pause = serde_json::to_string(&ToWorker::Pause).unwrap();
        assert_eq!(pause, r#"{"type":"pause"}"#);
        let report = WorkerReport {
            phase: Phase::Downloading {
                received: 5,
                total: 10,
            },
            ..WorkerReport::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["phase"],
            serde_json::json!({"state": "downloading", "received": 5, "total": 10})
        );
        let back: WorkerReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
