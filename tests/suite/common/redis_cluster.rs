//! A private three-primary Redis Cluster for one test: three `redis-server --cluster-enabled yes`
//! processes on loopback ports, joined by `redis-cli --cluster create`, each killed when
//! dropped. Ready once every node reports `cluster_state:ok`.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{process, wait};

/// Nodes in the cluster, all primaries (Redis Cluster's minimum).
const NODES: usize = 3;

/// One node: its client port (its cluster bus is 10,000 above) and its process.
struct Node {
    port: u16,
    child: Option<process::Guard>,
}

/// A private Redis Cluster, killed when dropped.
pub struct RedisCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    /// Whether its nodes speak TLS only (clients and cluster bus), with certificates for
    /// 127.0.0.1 signed by a certificate authority of its own ([`RedisCluster::ca`]).
    tls: bool,
}

impl RedisCluster {
    /// Three primaries sharing the 16,384 slots, ready to answer.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// The same, speaking TLS only, with a certificate authority no trust store knows.
    pub async fn start_tls() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if tls {
            let path = dir.path().to_path_buf();
            tokio::task::spawn_blocking(move || super::redis_server::make_certificates(&path))
                .await
                .expect("certificates made");
        }
        let mut nodes = Vec::new();
        for _ in 0..NODES {
            nodes.push(start_node(dir.path(), tls).await);
        }
        let cluster = Self { dir, nodes, tls };
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let mut create = Command::new("redis-cli");
        create.args(cluster.tls_args());
        create.args(["--cluster", "create"]).args(&addresses).args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = match process::try_output_within(&mut create, wait::HANG_GUARD) {
            Ok(out) => out,
            Err(e) => panic!(
                "redis-cli could not run ({e}); these tests run a real Redis Cluster: install Debian's redis-tools \
                 (`apt-get install redis-server` brings it) or run scripts/test, which does"
            ),
        };
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for node in &cluster.nodes {
            let port = node.port;
            let cluster = &cluster;
            wait::until(format_args!("node {port} reporting cluster_state:ok"), || async move {
                let info = cluster.cli(port, &["cluster", "info"]);
                if info.contains("cluster_state:ok") {
                    Ok(())
                } else {
                    Err(info)
                }
            })
            .await;
        }
        cluster
    }

    /// The URL naming the cluster by all its nodes.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let scheme = if self.tls { "rediss+cluster" } else { "redis+cluster" };
        format!("{scheme}://{}", seeds.join(","))
    }

    /// The PEM certificate of the authority that signed a TLS cluster's certificates.
    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// What `redis-cli` needs to speak to the nodes.
    fn tls_args(&self) -> Vec<String> {
        tls_args(self.dir.path(), self.tls)
    }

    /// What `redis-cli -p PORT ARGS…` prints against node `port` of this cluster (empty when it
    /// cannot run).
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        cli_at(self.dir.path(), self.tls, port, args)
    }

    /// The client port of each node.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// Kills node `i`, as a crash would.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].child.take();
    }
}

/// What `redis-cli` needs to speak to the nodes of the cluster in `dir`.
fn tls_args(dir: &std::path::Path, tls: bool) -> Vec<String> {
    if tls {
        vec!["--tls".into(), "--cacert".into(), dir.join("ca.pem").display().to_string()]
    } else {
        Vec::new()
    }
}

/// What `redis-cli` prints against node `port` of the cluster in `dir` (empty when it cannot run).
fn cli_at(dir: &std::path::Path, tls: bool, port: u16, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    command.args(tls_args(dir, tls)).args(["-h", "127.0.0.1", "-p", &port.to_string()]).args(args);
    match process::try_output_within(&mut command, Duration::from_secs(5)) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(_) => String::new(),
    }
}

/// A port free now whose cluster-bus port (10,000 above) is free too.
fn free_pair() -> u16 {
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("bound").port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port with a free cluster-bus port 10,000 above it");
}

/// Starts one cluster-enabled node on a free port pair, trying another pair when a parallel
/// test took it meanwhile.
async fn start_node(dir: &std::path::Path, tls: bool) -> Node {
    for _ in 0..5 {
        let port = free_pair();
        let mut command = Command::new("redis-server");
        if tls {
            command.args(["--port", "0", "--tls-port", &port.to_string(), "--tls-cluster", "yes"]);
            command.args(["--tls-cert-file", "server.pem", "--tls-key-file", "server.key"]);
            command.args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &port.to_string()]);
        }
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = match process::Guard::spawn(&mut command) {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; these tests run a real Redis Cluster: install Debian's redis-server \
                 or run scripts/test, which does"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let mut node = Node { port, child: Some(child) };
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            // A node that could not bind its ports exits: try another pair.
            if node.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(Some(_)))) {
                break;
            }
            if cli_at(dir, tls, port, &["cluster", "info"]).contains("cluster_state") {
                return node;
            }
            tokio::time::sleep(wait::POLL).await;
        }
    }
    panic!("redis-server did not start as a cluster node on any of five free ports");
}
