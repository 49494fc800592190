//! Configuration reload (`POST /-/reload`, SIGHUP): the new file is read
//! and checked as a whole; only if it is valid do its scrape jobs replace
//! the running ones. Sections that need a restart (server, storage,
//! ingest) are compared and a change is logged as such.

use std::path::PathBuf;
use std::sync::Arc;

use nines_scrape::ScrapeManager;
use nines_server::auth::Auth;
use parking_lot::{Mutex, RwLock};

use crate::config::{self, Config};

/// Command-line values that override the file on every load.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--backup-root`.
    pub backup_root: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to a freshly loaded config.
    pub fn apply(&self, c: &mut Config) {
        if let Some(l) = &self.listen {
            c.server.listen = l.clone();
        }
        if let Some(d) = &self.data_dir {
            c.storage.path = d.clone();
        }
        if let Some(r) = &self.backup_root {
            c.storage.backup_root = Some(r.clone());
        }
    }
}

/// The running parts a reload reconfigures.
pub struct Reconfigurable {
    /// Scrape jobs.
    pub scrape: Arc<ScrapeManager>,
    /// API tokens.
    pub auth: Arc<RwLock<Auth>>,
    /// SLOs, maintenance windows, budget policy.
    pub slos: Option<Arc<crate::slo_task::SloRunner>>,
    /// Rule groups.
    pub rules: Option<Arc<crate::rules_task::RulesRunner>>,
    /// Integration settings.
    pub inbound: Option<Arc<nines_server::InboundBoard>>,
    /// Heartbeat monitors.
    pub heartbeats: Option<Arc<crate::heartbeat_task::HeartbeatRunner>>,
    /// Inhibition rules (silences are not config).
    pub suppressor: Option<Arc<nines_routing::suppress::Suppressor>>,
    /// The route tree, receivers and time intervals.
    pub notify: Option<Arc<crate::notify_task::NotifyRunner>>,
    /// Users, teams and schedules.
    pub oncall: nines_server::oncall_api::SharedDirectory,
    /// Which pages declare incidents.
    pub auto_declare: Arc<crate::events::AutoDeclarer>,
    /// Severity names, look-back, postmortem policy, DORA settings.
    pub learning: nines_learning::settings::SharedSettings,
}

/// Re-reads one config file into the running server.
pub struct Reloader {
    path: PathBuf,
    overrides: Overrides,
    parts: Reconfigurable,
    insecure_ok: bool,
    /// The address the listener is bound to.
    bound: std::net::SocketAddr,
    running: Mutex<Config>,
}

impl Reloader {
    /// A reloader for the config that `running` was loaded from.
    pub fn new(
        path: PathBuf,
        overrides: Overrides,
        parts: Reconfigurable,
        insecure_ok: bool,
        bound: std::net::SocketAddr,
        running: Config,
    ) -> Self {
        Self {
            path,
            overrides,
            parts,
            insecure_ok,
            bound,
            running: Mutex::new(running),
        }
    }

    fn try_reload(&self) -> Result<(), Vec<String>> {
        let mut new = config::load(&self.path).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        self.overrides.apply(&mut new);
        let specs = new.scrape_specs().map_err(|e| vec![e])?;
        let tokens = new.auth.tokens().map_err(|e| vec![e])?;
        let mut running = self.running.lock();
        // The listener stays where it is until a restart, so the check is
        // against the address bound.
        crate::serve::check_exposure(&running.server.listen, self.bound, !tokens.is_empty(), self.insecure_ok)
            .map_err(|e| vec![e])?;
        self.parts.scrape.apply(specs).map_err(|e| vec![e.to_string()])?;
        *self.parts.auth.write() = Auth::new(tokens);
        for (section, changed) in [
            ("server", new.server != running.server),
            ("storage", new.storage != running.storage),
            ("ingest", new.ingest != running.ingest),
        ] {
            if changed {
                tracing::warn!(
                    section,
                    "the {section} section changed; it takes effect at the next restart"
                );
            }
        }
        if let Some(inbound) = &self.parts.inbound {
            inbound.set_routing_keys(new.integrations.routing_keys());
        }
        if let Some(heartbeats) = &self.parts.heartbeats {
            heartbeats.configure(&new);
        }
        if let Some(suppressor) = &self.parts.suppressor {
            suppressor.set_inhibit_rules(new.inhibit_loaded.clone());
        }
        *self.parts.oncall.write() = new.oncall_loaded.clone();
        self.parts.auto_declare.configure(new.auto_declare_loaded.clone());
        *self.parts.learning.write() = new.learning_loaded.clone();
        for w in &new.warnings {
            tracing::warn!("{w}");
        }
        let slo_problem = self.parts.slos.as_ref().and_then(|runner| runner.configure(&new).err());
        let rules_problem = self
            .parts
            .rules
            .as_ref()
            .and_then(|runner| runner.configure(&new).err());
        let notify_problem = self.parts.notify.as_ref().and_then(|n| n.configure(&new).err());
        running.scrape_configs = new.scrape_configs;
        running.global = new.global;
        running.auth = new.auth;
        // The rest of the config is in force; what failed is tried again
        // at the next reload.
        let problems: Vec<String> = slo_problem
            .into_iter()
            .chain(rules_problem)
            .chain(notify_problem)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl nines_server::Reload for Reloader {
    fn reload(&self) -> Result<(), Vec<String>> {
        match self.try_reload() {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), "configuration reloaded");
                Ok(())
            }
            Err(problems) => {
                for p in &problems {
                    tracing::error!(problem = %p, "configuration reload refused");
                }
                tracing::error!(
                    file = %self.path.display(),
                    "configuration reload refused: the running configuration stays in force"
                );
                Err(problems)
            }
        }
    }
}
