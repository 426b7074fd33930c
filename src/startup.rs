//! Wiring: configuration -> store + keys -> registry -> HTTP server. Used by `serve`, `demo`
//! and the integration tests, so all three run exactly the same application.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cache::shared::{SharedCache, Tiers};
use crate::cache::{AnswerCache, CacheSettings};
use crate::config::Config;
use crate::crypto::keys;
use crate::crypto::{Signer, TrustList, Verifier};
use crate::domain::Issuer;
use crate::http;
use crate::registry::{ReadPath, Registry};

/// Opens the store and keys named by `config` and builds the registry on them.
pub async fn open_registry(config: &Config) -> anyhow::Result<Arc<Registry>> {
    let signing = keys::load_signing_key(&config.keys_dir)?;
    let public = keys::load_public_keys(&config.keys_dir)?;
    if !public.iter().any(|entry| entry.key_id == signing.key_id) {
        anyhow::bail!(
            "the public key {}{} is missing from {}; restore it or create a new pair with `starmark keygen`",
            signing.key_id,
            keys::PUBLIC_SUFFIX,
            config.keys_dir.display()
        );
    }
    let issuer = Issuer { name: config.issuer_name.clone(), approval_number: config.issuer_approval.clone() };
    let trust_list = TrustList::build(&issuer.name, &public, &signing.key_id);
    let verifier = Verifier::new(&public);
    let store = crate::store::open(&config.database_url()).await.with_context(|| {
        format!("cannot open the database at {}", crate::store::display_url(&config.database_url()))
    })?;
    let mut registry = Registry::new(store, Signer::new(signing), verifier, issuer, trust_list)
        .with_public_url(&config.public_url)
        .with_receipt_quota(config.receipts_per_minute)
        .with_search_index_max(config.search_index_max)
        .with_console_settings(crate::registry::staff::ConsoleSettings {
            idle_timeout: config.session_idle,
            absolute_timeout: config.session_max,
            totp_issuer: format!("Starmark {}", config.issuer_name),
        });
    registry = registry.settle_log_origin(config.log_origin.as_deref()).await?;
    registry.open_log().await.context("cannot open the transparency log")?;
    let local = AnswerCache::new(CacheSettings {
        max_bytes: config.cache_max_bytes,
        stale_bound: config.cache_stale_bound,
        absent_for: config.cache_stale_bound.min(std::time::Duration::from_secs(2)),
        unpacked_bytes: config.cache_unpacked_bytes,
    });
    let shared = match &config.redis_url {
        Some(url) => Some(shared_cache(url, config.redis_ca.as_deref(), config.cache_stale_bound)?),
        None if config.redis_ca.is_some() => anyhow::bail!("STARMARK_REDIS_CA is set, but REDIS_URL is not"),
        None => None,
    };
    let read_path =
        ReadPath::new(Tiers { local, shared }, Arc::new(http::answer_json::JsonAnswers), config.answer_lifetime);
    let registry = registry.with_read_path(read_path);
    Ok(Arc::new(registry))
}

/// The Redis tier for `url`: over TLS for `rediss://`, against the certificate authorities of
/// `ca` when given (a private CA) or the system's trust store. Messages name the URL without
/// its password.
fn shared_cache(url: &str, ca: Option<&std::path::Path>, ttl: std::time::Duration) -> anyhow::Result<Arc<SharedCache>> {
    let shown = crate::store::display_url(url);
    let tls = url.starts_with("rediss://") || url.starts_with("rediss+cluster://");
    let shared = match ca {
        Some(path) if tls => {
            let roots =
                std::fs::read(path).with_context(|| format!("STARMARK_REDIS_CA: cannot read {}", path.display()))?;
            SharedCache::with_roots(url, roots, ttl)
        }
        Some(_) => {
            anyhow::bail!("STARMARK_REDIS_CA is set, but REDIS_URL {shown} does not use TLS; write it as rediss:// (or rediss+cluster://)")
        }
        None => SharedCache::new(url, ttl),
    };
    shared.with_context(|| {
        format!(
            "REDIS_URL {shown} cannot be used (write it as redis://[:password@]host[:port][/db], rediss:// for TLS, or redis+cluster://host:port[,host:port…] for a Redis Cluster)"
        )
    })
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: http::AppState,
    config: Config,
    registry: Arc<Registry>,
}

impl Application {
    /// Binds the listen address (port 0 picks a free port) and prepares the routes.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let registry = open_registry(config).await?;
        Self::with_registry(config, registry).await
    }

    pub async fn with_registry(config: &Config, registry: Arc<Registry>) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = http::AppState::new(registry.clone(), config)?;
        Ok(Self { listener, state, config: config.clone(), registry })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scans = self.registry.scans();
        let flusher = tokio::spawn(flush_scans_forever(scans.clone()));
        let feed = self.registry.tiers().and_then(|tiers| {
            let shared = tiers.shared?;
            Some(tokio::spawn(shared.run_feed(tiers.local)))
        });
        let watch = tokio::spawn(self.registry.clone().watch_changes());
        tokio::spawn(self.registry.clone().repair_mark_digests());
        let search_index = tokio::spawn(self.registry.clone().keep_search_index());
        let limits = self.state.limits.clone();
        let key_uses = tokio::spawn(write_key_uses_forever(self.registry.clone(), limits.clone()));
        let settings = http::server::ServerSettings {
            header_timeout: self.config.header_timeout,
            send_timeout: self.config.send_timeout,
            drain_timeout: self.config.request_timeout + std::time::Duration::from_secs(1),
        };
        let (connections, proxies) = (self.state.connections, self.state.proxies);
        tracing::debug!(
            max_connections = connections.max_total(),
            per_client = connections.max_per_client(),
            "connection limits"
        );
        http::server::serve(
            self.listener,
            http::app(self.state, &self.config),
            connections,
            proxies,
            settings,
            shutdown,
        )
        .await;
        self.registry.stop_background_work();
        flusher.abort();
        watch.abort();
        search_index.abort();
        key_uses.abort();
        write_key_uses(&self.registry, &limits).await;
        if let Some(feed) = feed {
            feed.abort();
        }
        if let Err(e) = scans.flush().await {
            tracing::error!(error = %e, "could not write the last scan counts");
        }
        Ok(())
    }
}

/// How often scan counts are written to the store.
const SCAN_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// While the store refuses scan counts, how often the server says it still does.
const SCAN_FLUSH_REMINDER: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes pending scan counts every second; a failed write is retried at the next tick. A store
/// that refuses them is reported when it starts, once a minute while it lasts, and when it ends,
/// not every second.
async fn flush_scans_forever(scans: Arc<crate::registry::ScanCounter>) {
    let mut ticker = tokio::time::interval(SCAN_FLUSH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Since when flushes fail, and when that was last said.
    let mut failing: Option<(std::time::Instant, std::time::Instant)> = None;
    loop {
        ticker.tick().await;
        match (scans.flush().await, failing) {
            (Ok(_), Some((since, _))) => {
                failing = None;
                tracing::info!(after_s = since.elapsed().as_secs(), "scan counts written again");
            }
            (Ok(_), None) => {}
            (Err(e), None) => {
                failing = Some((std::time::Instant::now(), std::time::Instant::now()));
                tracing::warn!(error = %e, "scan counts not written; they stay in memory and are retried every second");
            }
            (Err(e), Some((since, said))) if said.elapsed() >= SCAN_FLUSH_REMINDER => {
                failing = Some((since, std::time::Instant::now()));
                tracing::warn!(error = %e, for_s = since.elapsed().as_secs(), "scan counts still not written; retrying");
            }
            (Err(_), Some(_)) => {}
        }
    }
}

/// Writes the integrator keys' last uses that are not written yet; a failed write is retried
/// with the next.
async fn write_key_uses(registry: &Registry, limits: &crate::limits::Limiter) {
    let uses = limits.integrators.uses_to_write();
    if uses.is_empty() {
        return;
    }
    if let Err(e) = registry.record_integrator_key_uses(&uses).await {
        limits.integrators.write_failed(&uses);
        tracing::warn!(error = %e, "integrator keys' last uses not written; retried in a minute");
    }
}

/// Writes the integrator keys' last uses once a minute (their first use on an instance is
/// written at once by the rate-limit layer): no store write per request.
async fn write_key_uses_forever(registry: Arc<Registry>, limits: Arc<crate::limits::Limiter>) {
    let mut ticker = tokio::time::interval(crate::limits::integrators::USE_WRITTEN_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        write_key_uses(&registry, &limits).await;
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
