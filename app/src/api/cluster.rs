//! The public picture of the cluster: models, workers, and the server's figures and modes.

use leptos::prelude::*;
use protocol::{ActiveModel, HordeModes, HordePerformance, WorkerDetails};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::caller::{report, Caller};
use crate::forms::FormError;

/// The server's figures and modes, for the status page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterFigures {
    pub performance: HordePerformance,
    pub modes: HordeModes,
}

/// Every model an online worker serves, text first, then the best served.
#[server(prefix = "/_leptos", endpoint = "all_models")]
pub async fn all_models() -> Result<Vec<ActiveModel>, FormError> {
    models_of(None).await
}

/// The workers online now, busiest first.
#[server(prefix = "/_leptos", endpoint = "online_workers")]
pub async fn online_workers() -> Result<Vec<WorkerDetails>, FormError> {
    let caller = Caller::current().await?;
    let viewer = caller.account().await?;
    let mut workers = caller
        .horde
        .workers(&viewer, None, None)
        .await
        .map_err(report)?;
    workers.sort_by(|a, b| {
        b.requests_fulfilled
            .cmp(&a.requests_fulfilled)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(workers)
}

#[server(prefix = "/_leptos", endpoint = "cluster_status")]
pub async fn cluster_status() -> Result<ClusterFigures, FormError> {
    let caller = Caller::current().await?;
    Ok(ClusterFigures {
        performance: caller.horde.performance().await.map_err(report)?,
        modes: caller.horde.modes(None).await.map_err(report)?,
    })
}

/// The models of one kind (or all) that online workers serve, in the order pages show them.
#[cfg(feature = "ssr")]
pub async fn models_of(kind: Option<protocol::WorkerType>) -> Result<Vec<ActiveModel>, FormError> {
    let caller = Caller::current().await?;
    let mut models = caller.horde.active_models(kind).await.map_err(report)?;
    crate::figures::sort_models(&mut models);
    Ok(models)
}
