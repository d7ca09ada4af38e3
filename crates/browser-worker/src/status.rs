//! The worker's report to the page, kept here and sent whenever it changes.

use std::cell::RefCell;

use protocol::contribute::{Phase, WorkerReport};
use wasm_bindgen::JsValue;
use web_sys::DedicatedWorkerGlobalScope;
use worker::{SlotState, Snapshot};

pub struct Status {
    scope: DedicatedWorkerGlobalScope,
    report: RefCell<WorkerReport>,
}

impl Status {
    pub fn new(scope: DedicatedWorkerGlobalScope) -> Self {
        Status {
            scope,
            report: RefCell::new(WorkerReport::default()),
        }
    }

    /// Changes the report and sends it, if it changed.
    pub fn update(&self, change: impl FnOnce(&mut WorkerReport)) {
        let mut report = self.report.borrow_mut();
        let before = report.clone();
        change(&mut report);
        if *report != before {
            let json = serde_json::to_string(&*report).unwrap_or_default();
            // Fails only once the page has gone, when nobody is left to tell.
            let _ = self.scope.post_message(&JsValue::from_str(&json));
        }
    }

    pub fn phase(&self, phase: Phase) {
        self.update(|report| report.phase = phase);
    }

    /// The worker loop's figures.
    pub fn figures(&self, snapshot: &Snapshot) {
        self.update(|report| {
            report.jobs_done = snapshot.jobs_done;
            report.jobs_faulted = snapshot.jobs_faulted;
            report.tokens = snapshot.tokens;
            report.tokens_per_second = snapshot.tokens_per_second();
            report.kudos = snapshot.kudos;
            report.busy = snapshot
                .slots
                .iter()
                .any(|slot| matches!(slot, SlotState::Generating { .. }));
        });
    }
}
