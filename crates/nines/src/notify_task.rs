//! Notifications: every alert (rules, SLOs, integrations, heartbeats)
//! that silences and inhibition do not hold back goes through the route
//! tree into groups; what a flush decides to send is rendered for each
//! integration and stored with the notification log in one step, then
//! sent by a separate loop that retries failures with backoff. Each
//! delivery is its own task, so a slow or failing receiver never delays
//! another.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use nines_alerting::alert::AlertState;
use nines_alerting::inbound::{labels_key, InboundStatus};
use nines_alerting::manager::RuleManager;
use nines_clock::SharedClock;
use nines_oncall::page::PageAlert;
use nines_oncall::pager::{GroupNotice, Pager};
use nines_routing::delivery::{after_attempt, Delivery, DeliveryRepository, Outcome, Queued};
use nines_routing::dispatch::{Dispatcher, RoutableAlert};
use nines_routing::receiver::deliveries;
use nines_routing::suppress::Suppressor;
use nines_server::slo_api::SloBoard;
use nines_server::InboundBoard;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::config::routing::RoutingLoaded;
use crate::config::smtp::SmtpConfig;
use crate::config::Config;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use nines_learning::events::EventLog;
use nines_routing::receiver::EmailMessage;
use nines_routing::template::Templates;

/// The longest either loop sleeps without looking (SLO alerts and
/// heartbeats change without waking it).
const MAX_NAP_MS: i64 = 1_000;
/// How long one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where alerts come from.
pub struct Feed {
    /// Rule alerts.
    pub rules: Arc<RuleManager>,
    /// SLO alerts.
    pub slos: Arc<SloBoard>,
    /// Alerts from integrations and heartbeats.
    pub inbound: Arc<InboundBoard>,
}

impl Feed {
    /// Every firing alert and those resolved lately, from every source
    /// (blocking: inbound alerts are read from the state store).
    pub fn alerts(&self, now: i64) -> Result<Vec<RoutableAlert>, String> {
        let mut out = Vec::new();
        let routable = |labels: &std::collections::BTreeMap<String, String>,
                        annotations: &std::collections::BTreeMap<String, String>,
                        starts_at: i64,
                        ends_at: Option<i64>,
                        source: &str| RoutableAlert {
            fingerprint: labels_key(labels),
            labels: labels.clone(),
            annotations: annotations.clone(),
            starts_at,
            ends_at,
            source: source.to_string(),
            generator_url: String::new(),
        };
        for group in self.rules.groups().iter() {
            for (_, a) in group.snapshot().alerts() {
                let Some(fired) = a.fired_at else {
                    continue;
                };
                match a.state {
                    AlertState::Firing => out.push(routable(&a.labels, &a.annotations, fired, None, "rule")),
                    AlertState::Inactive => out.push(routable(&a.labels, &a.annotations, fired, a.resolved_at, "rule")),
                    AlertState::Pending => {}
                }
            }
        }
        for a in &self.slos.latest().alerts {
            out.push(routable(&a.labels, &a.annotations, a.active_since_ms, None, "slo"));
        }
        for a in self.inbound.listed(now).map_err(|e| e.message)? {
            let ends = (a.status == InboundStatus::Resolved).then(|| a.ends_at.unwrap_or(a.updated_at));
            out.push(routable(&a.labels, &a.annotations, a.starts_at, ends, a.source.name()));
        }
        Ok(out)
    }
}

struct Routing {
    dispatcher: Dispatcher,
    loaded: RoutingLoaded,
    external_url: String,
    templates: Arc<Templates>,
}

/// The SMTP client for `mailto:` deliveries.
struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    fn new(c: &SmtpConfig) -> Result<Self, String> {
        let (host, port) = c
            .host_port()
            .ok_or_else(|| format!("smtp.smarthost {:?} is not host:port", c.smarthost))?;
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(ca) = &c.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("smtp.ca_file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca_file {}: {e}", ca.display()))?;
            // Only the given CA: a private mail server is not vouched for
            // by the web's roots, and should not be by anyone else.
            tls = tls.certificate_store(CertificateStore::None).add_root_certificate(cert);
        }
        let tls = tls.build_rustls().map_err(|e| format!("smtp TLS: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(if c.require_tls {
                Tls::Required(tls)
            } else {
                Tls::Opportunistic(tls)
            })
            .hello_name(ClientId::Domain(c.hello.clone().unwrap_or_else(|| "localhost".into())))
            .timeout(Some(SEND_TIMEOUT));
        if let (Some(user), Some(password)) = (&c.username, c.password()?) {
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from: Mailbox = c.from.parse().map_err(|e| format!("smtp.from {:?}: {e}", c.from))?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    async fn send(&self, payload: &str) -> Outcome {
        let message: EmailMessage = match serde_json::from_str(payload) {
            Ok(m) => m,
            Err(e) => return Outcome::Failed(format!("unreadable email payload: {e}")),
        };
        let mut builder = Message::builder().from(self.from.clone()).subject(message.subject);
        for to in &message.to {
            match to.parse::<Mailbox>() {
                Ok(m) => builder = builder.to(m),
                Err(e) => return Outcome::Failed(format!("{to:?}: {e}")),
            }
        }
        let email = match builder.header(ContentType::TEXT_PLAIN).body(message.text) {
            Ok(e) => e,
            Err(e) => return Outcome::Failed(format!("building the email: {e}")),
        };
        match self.transport.send(email).await {
            Ok(_) => Outcome::Sent,
            Err(e) => Outcome::Failed(format!("SMTP: {e}")),
        }
    }
}

/// Where the runner writes down what it did.
pub struct Logs {
    /// The notification log and deliveries.
    pub deliveries: Arc<dyn DeliveryRepository>,
    /// The event log.
    pub events: Arc<dyn EventLog>,
}

/// The dispatcher, the sender, and what wakes them.
pub struct NotifyRunner {
    repo: Arc<dyn DeliveryRepository>,
    feed: Feed,
    suppressor: Arc<Suppressor>,
    clock: SharedClock,
    routing: Mutex<Option<Routing>>,
    /// Alerts changed: dispatch now.
    pub alerts_changed: Arc<Notify>,
    queued: Arc<Notify>,
    pager: Arc<Pager>,
    http: reqwest::Client,
    mailer: Mutex<Option<Arc<Mailer>>>,
    in_flight: Mutex<HashSet<i64>>,
    events: Arc<dyn EventLog>,
    alert_states: crate::events::AlertStates,
}

impl NotifyRunner {
    /// A runner with no route tree; call [`NotifyRunner::configure`].
    pub fn new(
        logs: Logs,
        feed: Feed,
        suppressor: Arc<Suppressor>,
        clock: SharedClock,
        alerts_changed: Arc<Notify>,
        pager: Arc<Pager>,
        queued: Arc<Notify>,
    ) -> Result<Self, String> {
        let Logs {
            deliveries: repo,
            events,
        } = logs;
        // reqwest is built without a default TLS provider; another caller
        // may have installed it already, which is what the error means.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .user_agent(concat!("nines/", env!("CARGO_PKG_VERSION")))
            .timeout(SEND_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the notification HTTP client: {e}"))?;
        Ok(Self {
            repo,
            feed,
            suppressor,
            clock,
            routing: Mutex::new(None),
            alerts_changed,
            queued,
            pager,
            http,
            mailer: Mutex::new(None),
            in_flight: Mutex::new(HashSet::new()),
            alert_states: crate::events::AlertStates::new(events.clone()),
            events,
        })
    }

    /// Takes the config's route tree (blocking: the notification log is
    /// read the first time). Groups survive a reload when their route
    /// keeps its settings.
    pub fn configure(&self, config: &Config) -> Result<(), String> {
        self.pager.configure(
            config.oncall_loaded.clone(),
            config.server.external_url(),
            config.templates_loaded.clone(),
        );
        *self.mailer.lock() = config.smtp.as_ref().map(Mailer::new).transpose()?.map(Arc::new);
        let mut routing = self.routing.lock();
        let Some(loaded) = config.routing_loaded.clone() else {
            *routing = None;
            return Ok(());
        };
        let external_url = config.server.external_url();
        match routing.as_mut() {
            Some(r) => {
                r.dispatcher.reconfigure(loaded.root.clone(), loaded.intervals.clone());
                r.loaded = loaded;
                r.external_url = external_url;
                r.templates = config.templates_loaded.clone();
            }
            None => {
                let log = self
                    .repo
                    .notify_log()
                    .map_err(|e| format!("reading the notification log: {e}"))?;
                *routing = Some(Routing {
                    dispatcher: Dispatcher::new(loaded.root.clone(), loaded.intervals.clone(), log),
                    loaded,
                    external_url,
                    templates: config.templates_loaded.clone(),
                });
            }
        }
        drop(routing);
        self.alerts_changed.notify_one();
        Ok(())
    }

    /// One round: route the current alerts and queue what is due.
    /// Returns when the next group flushes.
    fn dispatch_once(&self, now: i64) -> Result<Option<i64>, String> {
        let mut alerts = self.feed.alerts(now)?;
        // Every state change is logged, silenced or not, routed or not:
        // the log records what happened, not what was sent.
        if let Err(e) = self.alert_states.observe(&alerts, now) {
            tracing::error!("{e}");
        }
        let mut guard = self.routing.lock();
        let Some(routing) = guard.as_mut() else {
            // Pages opened under an earlier config still escalate.
            return self.pager.tick(now).map_err(|e| format!("escalating pages: {e}"));
        };
        let firing: Vec<usize> = (0..alerts.len()).filter(|&i| !alerts[i].resolved(now)).collect();
        let labels: Vec<&std::collections::BTreeMap<String, String>> =
            firing.iter().map(|&i| &alerts[i].labels).collect();
        let verdicts = self.suppressor.judge(&labels, now);
        let held: HashSet<usize> = firing
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.suppressed())
            .map(|(&i, _)| i)
            .collect();
        let mut i = 0;
        alerts.retain(|_| {
            i += 1;
            !held.contains(&(i - 1))
        });
        let mut batch = Vec::new();
        for n in routing.dispatcher.tick(&alerts, now) {
            let Some(receiver) = routing.loaded.receivers.get(&n.receiver) else {
                continue;
            };
            // The page first: if the log below fails, the next flush
            // finds the page open and does not open another.
            if let Some(policy) = &receiver.escalation_policy {
                let firing = n
                    .alerts
                    .iter()
                    .filter(|a| !a.resolved(now))
                    .map(|a| PageAlert {
                        labels: a.labels.clone(),
                        annotations: a.annotations.clone(),
                        starts_at: a.starts_at,
                        source: a.source.clone(),
                    })
                    .collect();
                let notice = GroupNotice {
                    receiver: &n.receiver,
                    policy,
                    group_key: &n.group_key,
                    firing,
                };
                self.pager.on_group(notice, now).map_err(|e| format!("paging: {e}"))?;
            }
            let ds = deliveries(receiver, &n, &routing.external_url, &routing.templates, now);
            batch.push(Queued {
                log: n.log,
                deliveries: ds,
            });
        }
        // Stored first, in one commit: if this fails, the log is not
        // updated either and the next flush decides again.
        let stored = if batch.is_empty() {
            Vec::new()
        } else {
            self.repo
                .enqueue(&batch)
                .map_err(|e| format!("queueing notifications: {e}"))?
        };
        for q in batch {
            routing.dispatcher.logged(q.log);
        }
        if !stored.is_empty() {
            self.queued.notify_one();
        }
        let next_step = self.pager.tick(now).map_err(|e| format!("escalating pages: {e}"))?;
        Ok([routing.dispatcher.next_due(), next_step].into_iter().flatten().min())
    }

    /// Dispatches whenever alerts change, a group is due, or a second
    /// has passed.
    pub async fn dispatch_forever(self: Arc<Self>) {
        loop {
            let now = self.clock.now_millis();
            let me = self.clone();
            let next = match tokio::task::spawn_blocking(move || me.dispatch_once(now)).await {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::error!("notification dispatch failed (retried): {e}");
                    None
                }
                Err(_) => None,
            };
            let nap = next.map_or(MAX_NAP_MS, |n| (n - now).clamp(1, MAX_NAP_MS));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(nap as u64)) => {}
                _ = self.alerts_changed.notified() => {}
            }
        }
    }

    /// Sends due deliveries, each in its own task, until dropped.
    pub async fn send_forever(self: Arc<Self>) {
        loop {
            let repo = self.repo.clone();
            let pending = match tokio::task::spawn_blocking(move || repo.pending_deliveries()).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::error!("reading pending deliveries failed (retried): {e}");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
            let now = self.clock.now_millis();
            let mut next = now + MAX_NAP_MS;
            for d in pending {
                if d.next_attempt_at > now {
                    next = next.min(d.next_attempt_at);
                    continue;
                }
                if self.in_flight.lock().insert(d.id) {
                    tokio::spawn(self.clone().send(d));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis((next - now).max(1) as u64)) => {}
                _ = self.queued.notified() => {}
            }
        }
    }

    async fn post(&self, d: &Delivery) -> Outcome {
        let result = self
            .http
            .post(&d.request.target)
            .header("Content-Type", "application/json")
            .body(d.request.payload.clone())
            .send()
            .await;
        match result {
            Ok(resp) if resp.status().is_success() => Outcome::Sent,
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let body: String = body.chars().take(200).collect();
                Outcome::Failed(format!("HTTP {status}: {body}"))
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn send(self: Arc<Self>, d: Delivery) {
        let outcome = if d.request.target.starts_with("mailto:") {
            let mailer = self.mailer.lock().clone();
            match mailer {
                Some(m) => m.send(&d.request.payload).await,
                None => Outcome::Failed("no smtp: server is configured".into()),
            }
        } else {
            self.post(&d).await
        };
        let now = self.clock.now_millis();
        let (id, receiver) = (d.id, d.request.receiver.clone());
        let updated = after_attempt(d, outcome, now);
        if let Some(e) = &updated.last_error {
            tracing::warn!(
                receiver,
                attempts = updated.attempts,
                status = updated.status.name(),
                "notification failed: {e}"
            );
        }
        let repo = self.repo.clone();
        let event = crate::events::delivery_event(&updated);
        let events = self.events.clone();
        let saved = tokio::task::spawn_blocking(move || {
            repo.update_delivery(&updated)?;
            match event {
                Some(e) => events.append(&[e]).map(|_| ()),
                None => Ok(()),
            }
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::error!("recording a delivery attempt failed: {e}");
        }
        self.in_flight.lock().remove(&id);
        self.queued.notify_one();
    }
}
