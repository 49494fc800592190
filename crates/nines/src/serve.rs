//! `nines serve`: open the store, serve HTTP, run housekeeping, and shut
//! down cleanly (head persisted) on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use nines_scrape::ScrapeManager;
use nines_server::auth::Auth;
use nines_server::limits::ClientLimiter;
use nines_server::listen::ServeOptions;
use nines_server::telemetry::Telemetry;
use nines_server::{AppState, HttpLimits, Reload};
use nines_tsdb::{Db, Limits, Options};
use parking_lot::RwLock;

use crate::config::{self, Config};
use crate::reload::{Overrides, Reconfigurable, Reloader};

/// What `nines serve` was given on the command line.
pub struct ServeArgs {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--listen` and `--data-dir`.
    pub overrides: Overrides,
    /// `--insecure-allow-unauthenticated`.
    pub insecure_allow_unauthenticated: bool,
}

/// Whether only this host can reach `ip` (IPv4-mapped loopback counts).
fn host_only(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Refuses an open API on an address others can reach. `listen` is what
/// the operator wrote, `addr` where it resolves or was bound.
pub fn check_exposure(listen: &str, addr: SocketAddr, has_tokens: bool, insecure_ok: bool) -> Result<(), String> {
    if host_only(addr.ip()) || has_tokens || insecure_ok {
        return Ok(());
    }
    let resolved = if listen == addr.to_string() {
        String::new()
    } else {
        format!(" ({addr})")
    };
    Err(format!(
        "refusing to listen on {listen}{resolved} without API tokens: anyone who can reach it could write, read and \
         administer nines. Configure auth.tokens, listen on 127.0.0.1, or pass \
         --insecure-allow-unauthenticated if the network in front of nines does the access control."
    ))
}

/// [`check_exposure`] for every address `listen` resolves to, before
/// anything is opened: host names and shorthands such as `0:9999` resolve
/// as the listener would bind them.
pub fn check_listen(listen: &str, has_tokens: bool, insecure_ok: bool) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addrs = listen
        .to_socket_addrs()
        .map_err(|e| format!("server.listen {listen:?} is not an address to listen on: {e}"))?;
    for addr in addrs {
        check_exposure(listen, addr, has_tokens, insecure_ok)?;
    }
    Ok(())
}

pub fn run(args: ServeArgs) -> ExitCode {
    let ServeArgs {
        config: config_path,
        overrides,
        insecure_allow_unauthenticated,
    } = args;
    let mut config = match &config_path {
        Some(p) => match config::load(p) {
            Ok(c) => c,
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!("refusing to start: the configuration has {} problem(s)", problems.len());
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    overrides.apply(&mut config);
    if let Err(e) = check_listen(
        &config.server.listen,
        !config.auth.tokens.is_empty(),
        insecure_allow_unauthenticated,
    ) {
        eprintln!("nines: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, config_path, overrides, insecure_allow_unauthenticated)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("nines: {e}");
            ExitCode::FAILURE
        }
    }
}

fn store_options(c: &Config) -> Options {
    let s = &c.storage;
    Options {
        block_duration_ms: s.block_duration.0,
        retention_ms: (s.retention.0 > 0).then_some(s.retention.0),
        retention_bytes: (s.retention_size.0 > 0).then_some(s.retention_size.0),
        wal_segment_bytes: s.wal_segment_size.0,
        wal_fsync_each_commit: s.wal_fsync_interval.0 == 0,
        head_chunk_samples: 120,
        limits: Limits {
            max_labels: c.ingest.max_labels_per_series,
            max_label_name_len: c.ingest.max_label_name_length,
            max_label_value_len: c.ingest.max_label_value_length,
        },
        future_tolerance_ms: (s.future_tolerance.0 > 0).then_some(s.future_tolerance.0),
    }
}

async fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    insecure_ok: bool,
) -> Result<(), String> {
    let tls = match (&config.server.tls_cert_file, &config.server.tls_key_file) {
        (Some(cert), Some(key)) => Some(nines_server::listen::load_tls(cert, key).map_err(|e| e.to_string())?),
        _ => None,
    };
    let auth = Arc::new(RwLock::new(Auth::new(config.auth.tokens()?)));
    let dir = config.storage.path.clone();
    let opts = store_options(&config);
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, opts, nines_clock::system()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open storage: {e}"))?;
    let db = Arc::new(db);
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The address bound is what others reach, whatever was written.
    check_exposure(&config.server.listen, addr, !config.auth.tokens.is_empty(), insecure_ok)?;
    let url = nines_server::listen::display_url(addr, tls.is_some());
    tracing::info!(%url, data_dir = %config.storage.path.display(), "nines listening");
    // Tests and scripts read this line to find an ephemeral port.
    println!("nines listening on {url}");

    let state_dir = config.storage.path.clone();
    let store = tokio::task::spawn_blocking(move || nines_store::Store::open_in(&state_dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open the state store: {e}"))?;
    let store = Arc::new(store);
    let slo_board = Arc::new(nines_server::slo_api::SloBoard::new(store.clone(), store.clone()));
    let slo_settings = nines_slo::Settings {
        // Minutes older than the raw samples cannot be counted again.
        rewind_limit_ms: (config.storage.retention.0 > 0).then_some(config.storage.retention.0),
        ..nines_slo::Settings::default()
    };
    let slo_runner = {
        let query = Arc::new(nines_slo::query::EmbeddedQuery::new(config.query.engine(), db.clone()));
        let evaluator = nines_slo::Evaluator::new(store.clone(), query, nines_clock::system(), slo_settings.clone());
        let runner = Arc::new(crate::slo_task::SloRunner::new(
            evaluator,
            slo_board.clone(),
            db.clone(),
            nines_clock::system(),
            slo_settings.delay_ms,
        ));
        let configured = runner.clone();
        let slo_config = config.clone();
        tokio::task::spawn_blocking(move || configured.configure(&slo_config))
            .await
            .map_err(|e| e.to_string())??;
        let control: Arc<dyn nines_server::slo_api::SloControl> = runner.clone();
        slo_board.set_control(&control);
        runner
    };

    let rules_runner = {
        let query = Arc::new(nines_promql::seam::EmbeddedQuery::new(
            config.query.engine(),
            db.clone(),
        ));
        let sink = Arc::new(crate::rules_task::DbSink(db.clone()));
        let manager = Arc::new(nines_alerting::manager::RuleManager::new(store.clone(), query, sink));
        let runner = Arc::new(crate::rules_task::RulesRunner::new(
            manager,
            nines_clock::system(),
            tokio::runtime::Handle::current(),
        ));
        let configured = runner.clone();
        let rules_config = config.clone();
        tokio::task::spawn_blocking(move || configured.configure(&rules_config))
            .await
            .map_err(|e| e.to_string())??;
        runner
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let inbound = Arc::new(nines_server::InboundBoard::new(store.clone()));
    inbound.set_routing_keys(config.integrations.routing_keys());
    let heartbeats = Arc::new(crate::heartbeat_task::HeartbeatRunner::new(
        Arc::new(nines_alerting::heartbeat::HeartbeatMonitor::new(
            store.clone(),
            store.clone(),
        )),
        nines_clock::system(),
    ));
    heartbeats.configure(&config);
    let suppressor = {
        let repo: Arc<dyn nines_routing::silence::SilenceRepository> = store.clone();
        let now = nines_clock::system().now_millis();
        let silences = tokio::task::spawn_blocking(move || nines_routing::silence::Silences::load(repo, now))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("loading silences: {e}"))?;
        let suppressor = Arc::new(nines_routing::suppress::Suppressor::new(Arc::new(silences)));
        suppressor.set_inhibit_rules(config.inhibit_loaded.clone());
        suppressor
    };

    let alerts_changed = Arc::new(tokio::sync::Notify::new());
    let queued = Arc::new(tokio::sync::Notify::new());
    let auto_declare = Arc::new(crate::events::AutoDeclarer::new(store.clone()));
    let learning: nines_learning::settings::SharedSettings =
        Arc::new(parking_lot::RwLock::new(config.learning_loaded.clone()));
    auto_declare.configure(config.auto_declare_loaded.clone());
    let pager = {
        let repo: Arc<dyn nines_oncall::page::PageRepository> = store.clone();
        let wake = queued.clone();
        let pager = tokio::task::spawn_blocking(move || {
            nines_oncall::pager::Pager::load(repo, Box::new(move || wake.notify_one()))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("loading pages: {e}"))?;
        let pager = Arc::new(pager);
        pager.observe(crate::events::page_observer(store.clone(), auto_declare.clone()));
        pager
    };
    rules_runner.notify_changes_to(alerts_changed.clone());
    inbound.notify_changes_to(alerts_changed.clone());
    let notify = Arc::new(crate::notify_task::NotifyRunner::new(
        crate::notify_task::Logs {
            deliveries: store.clone(),
            events: store.clone(),
        },
        crate::notify_task::Feed {
            rules: rules_runner.manager(),
            slos: slo_board.clone(),
            inbound: inbound.clone(),
        },
        suppressor.clone(),
        nines_clock::system(),
        alerts_changed,
        pager.clone(),
        queued,
    )?);
    {
        let configured = notify.clone();
        let notify_config = config.clone();
        tokio::task::spawn_blocking(move || configured.configure(&notify_config))
            .await
            .map_err(|e| e.to_string())??;
    }

    let oncall: nines_server::oncall_api::SharedDirectory =
        Arc::new(parking_lot::RwLock::new(config.oncall_loaded.clone()));
    let scrape = ScrapeManager::new(db.clone(), nines_clock::system());
    let query_gate =
        nines_server::query_gate::QueryGate::new(config.query.max_concurrency, config.query.max_concurrency_per_client);
    let telemetry = Telemetry::new(db.clone(), Some(scrape.clone()), &query_gate);
    let mut background = Vec::new();
    let fsync_ms = config.storage.wal_fsync_interval.0;
    if fsync_ms > 0 {
        let db = db.clone();
        let telemetry = telemetry.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(StdDuration::from_millis(fsync_ms as u64));
            loop {
                tick.tick().await;
                let db = db.clone();
                let started = std::time::Instant::now();
                match tokio::task::spawn_blocking(move || db.sync_wal()).await {
                    Ok(Err(e)) => tracing::error!("WAL fsync failed: {e}"),
                    Ok(Ok(())) => telemetry.observe_wal_fsync(started.elapsed().as_secs_f64()),
                    Err(_) => {}
                }
            }
        }));
    }
    {
        let db = db.clone();
        let every = StdDuration::from_millis(config.storage.maintenance_interval.0 as u64);
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let db = db.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.maintain()).await {
                    tracing::error!("storage maintenance failed: {e}");
                }
            }
        }));
    }

    let limits = HttpLimits {
        max_body_bytes: usize::try_from(config.ingest.max_body_size.0).unwrap_or(usize::MAX),
        max_decompressed_bytes: usize::try_from(config.ingest.max_decompressed_size.0).unwrap_or(usize::MAX),
    };
    scrape.apply(config.scrape_specs()?).map_err(|e| e.to_string())?;
    let reloader: Option<Arc<dyn Reload>> = config_path.map(|path| {
        Arc::new(Reloader::new(
            path,
            overrides,
            Reconfigurable {
                scrape: scrape.clone(),
                auth: auth.clone(),
                slos: Some(slo_runner.clone()),
                rules: Some(rules_runner.clone()),
                inbound: Some(inbound.clone()),
                heartbeats: Some(heartbeats.clone()),
                suppressor: Some(suppressor.clone()),
                notify: Some(notify.clone()),
                oncall: oncall.clone(),
                auto_declare: auto_declare.clone(),
                learning: learning.clone(),
            },
            insecure_ok,
            addr,
            config.clone(),
        )) as Arc<dyn Reload>
    });
    if let Some(r) = reloader.clone() {
        background.push(tokio::spawn(reload_on_sighup(r)));
    }
    background.push(tokio::spawn(slo_runner.clone().run_forever()));
    background.push(tokio::spawn(heartbeats.clone().watch_forever()));
    background.push(tokio::spawn(notify.clone().dispatch_forever()));
    background.push(tokio::spawn(notify.clone().send_forever()));
    let app = nines_server::router(AppState {
        db: db.clone(),
        limits,
        backup_root: config.storage.backup_root.clone(),
        scrape: Some(scrape.clone()),
        reloader,
        telemetry: Some(telemetry),
        auth,
        client_limiter: Some(ClientLimiter::new(config.server.max_concurrent_requests_per_client)),
        engine: Arc::new(config.query.engine()),
        query_gate,
        clock: nines_clock::system(),
        slos: Some(slo_board),
        rules: Some(rules_runner.manager()),
        inbound: Some(inbound),
        heartbeats: Some(heartbeats.monitor()),
        suppressor: Some(suppressor),
        deliveries: Some(store.clone()),
        oncall,
        pager: Some(pager),
        events: Some(store.clone()),
        incidents: Some(store.clone()),
        postmortems: Some(store.clone()),
        learning,
    });
    let opts = ServeOptions {
        tls,
        max_header_bytes: usize::try_from(config.server.max_header_size.0).unwrap_or(usize::MAX),
        header_timeout: StdDuration::from_millis(config.server.read_header_timeout.0 as u64),
        body_pace: nines_server::timed_body::BodyPace {
            idle: StdDuration::from_millis(config.server.read_body_timeout.0.max(1) as u64),
            min_bytes_per_sec: config.server.min_body_rate.0,
        },
    };
    nines_server::listen::serve(listener, app, opts, shutdown_signal(), StdDuration::from_secs(30)).await;

    tracing::info!("shutting down: stopping scrapes, persisting the head");
    scrape.shutdown().await;
    drop(scrape);
    drop(slo_runner);
    rules_runner.stop();
    drop(rules_runner);
    drop(notify);
    for task in background {
        task.abort();
        let _ = task.await;
    }
    // An SLO evaluation running on a blocking thread holds the store
    // until it finishes; give it time rather than skip the clean close.
    let mut db = db;
    let mut waited = 0;
    let db = loop {
        match Arc::try_unwrap(db) {
            Ok(d) => break d,
            Err(still_shared) if waited < 600 => {
                db = still_shared;
                waited += 1;
                tokio::time::sleep(StdDuration::from_millis(100)).await;
            }
            Err(_) => return Err("storage still in use at shutdown".to_string()),
        }
    };
    tokio::task::spawn_blocking(move || db.close())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("clean shutdown failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

async fn reload_on_sighup(reloader: Arc<dyn Reload>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
        return;
    };
    while hup.recv().await.is_some() {
        let r = reloader.clone();
        // The outcome is logged by the reloader itself.
        let _ = tokio::task::spawn_blocking(move || r.reload()).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
