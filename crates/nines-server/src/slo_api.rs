//! The SLO API: statuses, one SLO, its history, and the SLO alerts in
//! Prometheus's `/api/v1/alerts` shape.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use nines_slo::gate::{GateRepository, Policies};
use nines_slo::history::{history, SloHandle};
use nines_slo::maintenance::Maintenance;
use nines_slo::repo::{SloRepository, StoredWindow};
use nines_slo::Evaluation;
use parking_lot::RwLock;
use serde_json::json;

use crate::error::success;
use crate::{ApiError, AppState};

/// Changes to SLO state that go through the evaluator, so that they and
/// the rollups they invalidate never race an evaluation cycle. Calls
/// block (a cycle may be running); they return once the change is durable.
pub trait SloControl: Send + Sync {
    /// Records a maintenance window.
    fn add_maintenance(&self, maintenance: Maintenance, by: &str) -> nines_slo::Result<StoredWindow>;
    /// Ends a window now, or withdraws it.
    fn end_maintenance(&self, id: i64, by: &str, withdraw: bool) -> nines_slo::Result<StoredWindow>;
}

/// What the evaluator last published, and the store history reads from.
pub struct SloBoard {
    latest: RwLock<Arc<Evaluation>>,
    repo: Arc<dyn SloRepository>,
    gate: Arc<dyn GateRepository>,
    policies: RwLock<Arc<Policies>>,
    /// Weak: the evaluator's owner holds this board, and a strong link
    /// back would keep both (and the store) alive past shutdown.
    control: OnceLock<Weak<dyn SloControl>>,
}

impl SloBoard {
    /// An empty board over the stores, with the default budget policy.
    pub fn new(repo: Arc<dyn SloRepository>, gate: Arc<dyn GateRepository>) -> Self {
        Self {
            latest: RwLock::new(Arc::new(Evaluation::default())),
            repo,
            gate,
            policies: RwLock::default(),
            control: OnceLock::new(),
        }
    }

    /// Replaces the budget policies the gate applies.
    pub fn set_policies(&self, policies: Policies) {
        *self.policies.write() = Arc::new(policies);
    }

    /// The budget policies in force.
    pub fn policies(&self) -> Arc<Policies> {
        self.policies.read().clone()
    }

    /// Where gate overrides are kept.
    pub fn gate(&self) -> Arc<dyn GateRepository> {
        self.gate.clone()
    }

    /// Connects the evaluator's controls (once).
    pub fn set_control(&self, control: &Arc<dyn SloControl>) {
        // A second call keeps the first: there is one evaluator.
        let _ = self.control.set(Arc::downgrade(control));
    }

    /// The state store.
    pub fn repo(&self) -> Arc<dyn SloRepository> {
        self.repo.clone()
    }

    /// Replaces what is served.
    pub fn publish(&self, evaluation: Evaluation) {
        *self.latest.write() = Arc::new(evaluation);
    }

    /// What is served.
    pub fn latest(&self) -> Arc<Evaluation> {
        self.latest.read().clone()
    }
}

/// The evaluator's controls, or 503 when SLOs are not evaluated.
pub(crate) fn control(state: &AppState) -> Result<Arc<dyn SloControl>, ApiError> {
    state
        .slos
        .as_ref()
        .and_then(|b| b.control.get().and_then(Weak::upgrade))
        .ok_or_else(|| ApiError::unavailable("SLO evaluation is not running (it needs a data directory)"))
}

fn board(state: &AppState) -> Arc<Evaluation> {
    state.slos.as_ref().map(|b| b.latest()).unwrap_or_default()
}

fn not_found(service: &str, slo: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: format!("no SLO {service}/{slo} is configured"),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /api/v1/slos`
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(success(to_json(&board(&state).statuses)?, Vec::new()))
}

/// `GET /api/v1/slos/{service}/{slo}`
pub async fn show(
    State(state): State<AppState>,
    Path((service, slo)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let latest = board(&state);
    let status = latest
        .statuses
        .iter()
        .find(|s| s.service == service && s.slo == slo)
        .ok_or_else(|| not_found(&service, &slo))?;
    Ok(success(to_json(status)?, Vec::new()))
}

/// Most periods one history request returns.
const MAX_PERIODS: usize = 120;

/// `GET /api/v1/slos/{service}/{slo}/history?periods=N`
pub async fn slo_history(
    State(state): State<AppState>,
    Path((service, slo)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let periods = match params.get("periods") {
        None => 12,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if (1..=MAX_PERIODS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "periods: {p:?} is not a whole number from 1 to {MAX_PERIODS}"
                )))
            }
        },
    };
    let Some(board_ref) = state.slos.clone() else {
        return Err(not_found(&service, &slo));
    };
    let latest = board_ref.latest();
    let handle: SloHandle = latest
        .handles
        .iter()
        .find(|h| h.slo.service == service && h.slo.name == slo)
        .cloned()
        .ok_or_else(|| not_found(&service, &slo))?;
    let repo = board_ref.repo.clone();
    let reports = tokio::task::spawn_blocking(move || history(&*repo, &handle, periods))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(success(
        json!({"service": service, "slo": slo, "periods": to_json(&reports)?}),
        Vec::new(),
    ))
}
