//! How an instance reaches Redis: one server (or a managed service that is one), or a Redis
//! Cluster through seed nodes. Both are one [`Link`] to the rest of the shared cache, which
//! sends the same commands either way; only calls over several keys differ, split by slot in a
//! cluster (see [`super::slots`]).
//!
//! A cluster is named by `redis+cluster://[user:password@]host:port[,host:port…]` (or
//! `rediss+cluster://` for TLS): the seed nodes, of which any one that answers tells the client
//! the rest. The change feed is classic pub/sub, which a cluster carries from the node a message
//! is published on to every other, so the feed subscribes on one seed node at a time and moves
//! to the next when that one goes away.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// The schemes that name a cluster, and the scheme of each seed's own URL.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")];

/// Where Redis is.
pub enum Target {
    /// One server.
    Single(redis::Client),
    /// A cluster: its client, and a plain client per seed node for the change feed.
    Cluster { client: ClusterClient, seeds: Vec<redis::Client> },
}

/// An open connection, cheap to clone (both kinds multiplex their commands).
#[derive(Clone)]
pub enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Target {
    /// The target `url` names: a cluster for `redis+cluster://` and `rediss+cluster://`, one
    /// server for anything else the `redis` crate opens. `roots_pem`: certificate authorities a
    /// TLS server's certificate must chain to, instead of the system's trust store.
    pub fn open(url: &str, roots_pem: Option<Vec<u8>>) -> redis::RedisResult<Self> {
        let certificates = |roots: Vec<u8>| redis::TlsCertificates { client_tls: None, root_cert: Some(roots) };
        let Some(seed_urls) = seed_urls(url)? else {
            return Ok(Target::Single(match roots_pem {
                Some(roots) => redis::Client::build_with_tls(url, certificates(roots))?,
                None => redis::Client::open(url)?,
            }));
        };
        let mut builder = ClusterClient::builder(seed_urls.clone())
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(super::OPERATION_TIMEOUT)
            .retries(1);
        if let Some(roots) = &roots_pem {
            builder = builder.certs(certificates(roots.clone()));
        }
        let seeds = seed_urls
            .iter()
            .map(|seed| match &roots_pem {
                Some(roots) => redis::Client::build_with_tls(seed.as_str(), certificates(roots.clone())),
                None => redis::Client::open(seed.as_str()),
            })
            .collect::<redis::RedisResult<Vec<_>>>()?;
        Ok(Target::Cluster { client: builder.build()?, seeds })
    }

    /// Whether keys of one call must share a slot.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster { .. })
    }

    /// Opens the connection commands go over.
    pub async fn connect(&self) -> redis::RedisResult<Link> {
        match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(super::OPERATION_TIMEOUT)
                    .set_number_of_retries(1);
                Ok(Link::Single(client.get_connection_manager_with_config(config).await?))
            }
            Target::Cluster { client, .. } => Ok(Link::Cluster(client.get_async_connection().await?)),
        }
    }

    /// The client the change feed subscribes with on its `attempt`-th try: the one server, or
    /// the seeds in turn.
    pub fn feed_client(&self, attempt: usize) -> &redis::Client {
        match self {
            Target::Single(client) => client,
            Target::Cluster { seeds, .. } => &seeds[attempt % seeds.len()],
        }
    }
}

/// The seed URLs of a cluster URL (each `redis://` or `rediss://` with the URL's credentials);
/// `None` for a URL that names no cluster.
fn seed_urls(url: &str) -> redis::RedisResult<Option<Vec<String>>> {
    let Some((rest, scheme)) =
        CLUSTER_SCHEMES.iter().find_map(|(cluster, seed)| Some((url.strip_prefix(cluster)?, *seed)))
    else {
        return Ok(None);
    };
    let invalid = |what: &'static str| redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, what));
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (Some(credentials), hosts),
        None => (None, rest),
    };
    let hosts = hosts.trim_end_matches('/');
    if hosts.contains(['/', '?', '#']) {
        return Err(invalid("a cluster URL names seed nodes only: no database, path or parameters"));
    }
    let seeds: Vec<String> = hosts
        .split(',')
        .map(|host| match credentials {
            Some(credentials) => format!("{scheme}{credentials}@{host}"),
            None => format!("{scheme}{host}"),
        })
        .collect();
    if hosts.split(',').any(|host| host.is_empty() || !host.contains(':')) {
        return Err(invalid("each seed node of a cluster URL is host:port, separated by commas"));
    }
    for seed in &seeds {
        redis::Client::open(seed.as_str())?;
    }
    Ok(Some(seeds))
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_its_seeds_with_their_credentials() {
        let seeds = seed_urls("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001/").unwrap().unwrap();
        assert_eq!(seeds, ["redis://:secret@10.0.0.1:7000", "redis://:secret@10.0.0.2:7001"]);
        let seeds = seed_urls("rediss+cluster://cache.example:6380").unwrap().unwrap();
        assert_eq!(seeds, ["rediss://cache.example:6380"]);
        assert_eq!(seed_urls("redis://127.0.0.1:6379/2").unwrap(), None, "one server is no cluster");
        for bad in ["redis+cluster://", "redis+cluster://a:1,,b:2", "redis+cluster://a:1/2", "redis+cluster://host"] {
            assert!(seed_urls(bad).is_err(), "{bad}");
        }
    }
}
