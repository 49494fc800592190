//! The HTTP face of nines: Prometheus remote_write, JSON-lines import and
//! export, the Prometheus metadata API, health and admin endpoints.

use std::sync::Arc;

use axum::routing::{delete, get, post};
use axum::Router;
use nines_scrape::ScrapeManager;
use nines_tsdb::Db;

mod admin;
pub mod auth;
mod body;
mod changes_api;
mod error;
pub mod events_api;
mod export;
mod gate_api;
mod heartbeat_api;
mod hyper_errors;
mod inbound_api;
mod incidents_api;
mod ingest;
mod learning_api;
pub mod limits;
pub mod listen;
pub mod maintenance_api;
mod metadata;
mod notifications_api;
pub mod oncall_api;
mod otlp;
mod pages_api;
pub mod params;
pub mod prompb;
pub mod promql_api;
mod query;
pub mod query_gate;
mod rules_api;
mod silence_api;
pub mod slo_api;
mod targets;
pub mod telemetry;
pub mod timed_body;

pub use error::ApiError;
pub use inbound_api::InboundBoard;
pub use ingest::parse_special;
pub use targets::{rfc3339, targets_json, Reload};

/// Request size limits.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request body (compressed, for remote_write) and largest
    /// import line.
    pub max_body_bytes: usize,
    /// Largest decompressed remote_write body.
    pub max_decompressed_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub db: Arc<Db>,
    /// Size limits.
    pub limits: HttpLimits,
    /// The folder admin backups may be written under; none: refused.
    pub backup_root: Option<std::path::PathBuf>,
    /// The scrape jobs, when scraping runs.
    pub scrape: Option<Arc<ScrapeManager>>,
    /// Re-reads the config for `POST /-/reload`.
    pub reloader: Option<Arc<dyn Reload>>,
    /// Self-metrics, served at `/metrics`.
    pub telemetry: Option<Arc<telemetry::Telemetry>>,
    /// API tokens; open when none are configured. Swapped on reload.
    pub auth: Arc<parking_lot::RwLock<auth::Auth>>,
    /// Per-client in-flight request limit.
    pub client_limiter: Option<Arc<limits::ClientLimiter>>,
    /// The PromQL engine settings.
    pub engine: Arc<nines_promql::Engine>,
    /// How many queries run at once, overall and per client.
    pub query_gate: Arc<query_gate::QueryGate>,
    /// Time source for the default query time.
    pub clock: nines_clock::SharedClock,
    /// SLO statuses and alerts, when SLOs are evaluated.
    pub slos: Option<Arc<slo_api::SloBoard>>,
    /// Rule groups and their alerts, when rules are evaluated.
    pub rules: Option<Arc<nines_alerting::manager::RuleManager>>,
    /// Alerts from outside (Alertmanager, PagerDuty, generic).
    pub inbound: Option<Arc<inbound_api::InboundBoard>>,
    /// Heartbeat monitors.
    pub heartbeats: Option<Arc<nines_alerting::heartbeat::HeartbeatMonitor>>,
    /// Silences and inhibition rules.
    pub suppressor: Option<Arc<nines_routing::suppress::Suppressor>>,
    /// The delivery log.
    pub deliveries: Option<Arc<dyn nines_routing::delivery::DeliveryRepository>>,
    /// Users, teams and schedules; swapped on reload.
    pub oncall: oncall_api::SharedDirectory,
    /// Pages and their escalation.
    pub pager: Option<Arc<nines_oncall::pager::Pager>>,
    /// The append-only event log.
    pub events: Option<Arc<dyn nines_learning::events::EventLog>>,
    /// Incidents.
    pub incidents: Option<Arc<dyn nines_learning::incident::IncidentRepository>>,
    /// Postmortems.
    pub postmortems: Option<Arc<dyn nines_learning::postmortem::PostmortemRepository>>,
    /// Severity names, look-back, postmortem policy, DORA settings;
    /// swapped on reload.
    pub learning: nines_learning::settings::SharedSettings,
}

impl AppState {
    /// A state with just a store: no scraping, reload, telemetry, tokens
    /// or client limits.
    pub fn new(db: Arc<Db>, limits: HttpLimits) -> Self {
        Self {
            db,
            limits,
            backup_root: None,
            scrape: None,
            reloader: None,
            telemetry: None,
            auth: Arc::default(),
            client_limiter: None,
            engine: Arc::default(),
            query_gate: query_gate::QueryGate::new(20, 0),
            clock: nines_clock::system(),
            slos: None,
            rules: None,
            inbound: None,
            heartbeats: None,
            suppressor: None,
            deliveries: None,
            oncall: Arc::default(),
            pager: None,
            events: None,
            incidents: None,
            postmortems: None,
            learning: Arc::default(),
        }
    }
}

/// Every route nines serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/write", post(ingest::remote_write))
        .route("/api/v1/import", post(ingest::import))
        .route("/v1/metrics", post(otlp::metrics))
        .route("/api/v1/export", get(export::export))
        .route("/api/v1/series", get(metadata::series).post(metadata::series))
        .route("/api/v1/labels", get(metadata::labels).post(metadata::labels))
        .route("/api/v1/label/{name}/values", get(metadata::label_values))
        .route("/api/v1/admin/flush", post(admin::flush))
        .route("/api/v1/admin/backup", post(admin::backup))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/query", get(promql_api::instant).post(promql_api::instant))
        .route("/api/v1/query_range", get(promql_api::range).post(promql_api::range))
        .route("/api/v1/status/buildinfo", get(promql_api::buildinfo))
        .route("/api/v1/metadata", get(promql_api::metadata))
        .route("/api/v1/slos", get(slo_api::list))
        .route("/api/v1/slos/{service}/{slo}", get(slo_api::show))
        .route("/api/v1/slos/{service}/{slo}/history", get(slo_api::slo_history))
        .route("/api/v1/alerts", get(rules_api::alerts))
        .route("/api/v1/rules", get(rules_api::rules))
        .route("/api/v1/integrations/alertmanager", post(inbound_api::alertmanager))
        .route("/api/v1/integrations/pagerduty", post(inbound_api::pagerduty))
        .route("/v2/enqueue", post(inbound_api::pagerduty))
        .route("/api/v1/integrations/generic", post(inbound_api::generic))
        .route("/api/v1/heartbeats", get(heartbeat_api::list))
        .route("/api/v1/heartbeats/{name}", post(heartbeat_api::beat))
        .route("/api/v1/notifications", get(notifications_api::list))
        .route("/api/v1/events", get(events_api::list))
        .route(
            "/api/v1/incidents",
            get(incidents_api::list).post(incidents_api::declare),
        )
        .route("/api/v1/incidents/metrics", get(learning_api::aggregate_metrics))
        .route("/api/v1/incidents/{id}", get(incidents_api::show))
        .route("/api/v1/incidents/{id}/timeline", get(learning_api::incident_timeline))
        .route("/api/v1/incidents/{id}/metrics", get(learning_api::incident_metrics))
        .route(
            "/api/v1/incidents/{id}/postmortem",
            get(learning_api::show_postmortem).post(learning_api::draft_postmortem),
        )
        .route(
            "/api/v1/incidents/{id}/postmortem/edit",
            post(learning_api::edit_postmortem),
        )
        .route(
            "/api/v1/incidents/{id}/postmortem.md",
            get(learning_api::postmortem_markdown),
        )
        .route("/api/v1/postmortems/report", get(learning_api::postmortem_report))
        .route("/api/v1/dora", get(learning_api::dora_metrics))
        .route("/api/v1/incidents/{id}/update", post(incidents_api::update))
        .route("/api/v1/incidents/{id}/notes", post(incidents_api::note))
        .route("/api/v1/deploys", post(changes_api::deploy))
        .route("/api/v1/changes", post(changes_api::change))
        .route("/api/v1/integrations/github", post(changes_api::github))
        .route("/api/v1/oncall", get(oncall_api::who))
        .route("/api/v1/oncall/load", get(oncall_api::load))
        .route("/api/v1/pages", get(pages_api::list))
        .route("/api/v1/pages/{id}", get(pages_api::show))
        .route("/api/v1/pages/{id}/ack", post(pages_api::ack))
        .route("/api/v1/pages/{id}/resolve", post(pages_api::resolve))
        .route("/p/{id}/ack", get(pages_api::link_form).post(pages_api::link_ack))
        .route("/p/schedules/{name}/calendar.ics", get(oncall_api::signed_calendar))
        .route("/api/v1/schedules", get(oncall_api::list))
        .route("/api/v1/schedules/{name}/shifts", get(oncall_api::shifts))
        .route("/api/v1/schedules/{name}/calendar.ics", get(oncall_api::calendar))
        .route("/api/v1/silences", get(silence_api::list).post(silence_api::create))
        .route(
            "/api/v1/silences/{id}",
            get(silence_api::show).delete(silence_api::expire),
        )
        .route(
            "/api/v1/maintenance",
            get(maintenance_api::list).post(maintenance_api::create),
        )
        .route("/api/v1/maintenance/{id}", delete(maintenance_api::withdraw))
        .route("/api/v1/maintenance/{id}/end", post(maintenance_api::end))
        .route("/api/v1/gate", get(gate_api::gate))
        .route(
            "/api/v1/gate/overrides",
            get(gate_api::list_overrides).post(gate_api::create_override),
        )
        .route("/api/v1/gate/overrides/{id}", delete(gate_api::revoke_override))
        .route("/-/reload", post(targets::reload).put(targets::reload))
        .route("/metrics", get(telemetry::metrics))
        .route("/-/healthy", get(|| async { "nines is Healthy.\n" }))
        .route("/-/ready", get(|| async { "nines is Ready.\n" }))
        .fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::NOT_FOUND,
                kind: "not_found",
                message: "no such endpoint".into(),
            }
        })
        .layer(axum::middleware::map_response(error::enveloped))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::per_client))
        .layer(axum::middleware::from_fn_with_state(state.clone(), telemetry::track))
        .with_state(state)
}

/// Parses one import line for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_import_line(line: &[u8]) -> bool {
    ingest::parse_import_line(line).is_ok()
}
