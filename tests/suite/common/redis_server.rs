//! A private `redis-server` for one test: on a Unix socket in a directory of its own, or
//! speaking TLS only, with a certificate authority of its own (`rediss://`). Either is killed
//! when dropped (or by [`RedisServer::kill`]), and is ready once its log says so: never after a
//! fixed sleep, and never mistaken for another process listening on the same address.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::sync::mpsc;

use super::{process, wait};

/// What `redis-server` logs, in lower case, once a listener is bound ("Ready to accept
/// connections" for TCP and TLS, "The server is now ready to accept connections at" a socket).
const READY: &str = "ready to accept connections";

/// A private Redis server for one test, killed when dropped. Without TLS it listens on a Unix
/// socket in its own directory, so a restart finds its address free: no other test can take it
/// meanwhile.
pub struct RedisServer {
    dir: tempfile::TempDir,
    child: Option<process::Guard>,
    /// With TLS: the loopback port it listens on (its certificates are in `dir`).
    tls_port: Option<u16>,
    /// The lines it logged since it said it was ready, not yet read.
    log: Option<mpsc::UnboundedReceiver<String>>,
}

impl RedisServer {
    /// A server on a Unix socket ([`RedisServer::socket`]).
    pub async fn start() -> Self {
        let mut server = Self::new();
        server.restart().await;
        server
    }

    /// A server that speaks TLS only, on a loopback port, with a certificate for 127.0.0.1
    /// signed by a certificate authority of its own ([`RedisServer::ca`]), which no trust store
    /// knows.
    pub async fn start_tls() -> Self {
        let mut server = Self::new();
        let dir = server.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || make_certificates(&dir)).await.expect("certificates made");
        server.tls_port = Some(free_port());
        server.restart().await;
        server
    }

    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), child: None, tls_port: None, log: None }
    }

    /// The Unix socket it listens on (without TLS).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Its URL: `redis+unix://…`, or `rediss://127.0.0.1:<port>` with TLS.
    pub fn url(&self) -> String {
        match self.tls_port {
            Some(port) => format!("rediss://127.0.0.1:{port}"),
            None => format!("redis+unix://{}", self.socket().display()),
        }
    }

    /// The PEM certificate of the authority that signed a TLS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts (again, after [`RedisServer::kill`]) on the same address and waits until it says
    /// it is ready. With TLS the port was only found free, so a parallel test may have taken
    /// it meanwhile: the server then exits, and it starts on another free port instead.
    pub async fn restart(&mut self) {
        self.kill();
        let Some(mut port) = self.tls_port else {
            let socket = self.socket();
            // A killed server leaves its socket file behind.
            let _ = std::fs::remove_file(&socket);
            let mut command = redis_command();
            command.args(["--port", "0", "--unixsocket"]).arg(&socket).args(["--unixsocketperm", "700"]);
            if let Err(said) = self.run(command).await {
                panic!("redis-server did not start on {}; it logged:\n{said}", socket.display());
            }
            return;
        };
        for _ in 0..5 {
            let mut command = redis_command();
            command.args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"]);
            command.args(["--tls-cert-file", "server.pem", "--tls-key-file", "server.key"]);
            command.args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]);
            match self.run(command).await {
                Ok(()) => {
                    self.tls_port = Some(port);
                    return;
                }
                Err(said) if said.contains("Address already in use") => port = free_port(),
                Err(said) => panic!("redis-server did not start with TLS; it logged:\n{said}"),
            }
        }
        panic!("redis-server could not listen with TLS on any of five free ports");
    }

    /// Spawns `command` and waits until it says it is ready; `Err` with what it logged when it
    /// exits first.
    async fn run(&mut self, mut command: Command) -> Result<(), String> {
        command.current_dir(self.dir.path()).stdout(Stdio::piped());
        let mut child = match process::Guard::spawn(&mut command) {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; these tests run a real Redis: install Debian's redis-server \
                 (`apt-get install redis-server`) or run scripts/test, which does"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, mut log) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Drained to the end even when nobody reads, so the server never blocks on its log.
                let _ = lines.send(line);
            }
        });
        self.child = Some(child);
        let mut said = Vec::new();
        let ready = tokio::time::timeout(wait::HANG_GUARD, async {
            while let Some(line) = log.recv().await {
                let ready = line.to_lowercase().contains(READY);
                said.push(line);
                if ready {
                    return true;
                }
            }
            false
        })
        .await;
        match ready {
            Ok(true) => {
                self.log = Some(log);
                Ok(())
            }
            Ok(false) => {
                self.kill();
                Err(said.join("\n"))
            }
            Err(_) => {
                panic!("redis-server was not ready within {:?}; it logged:\n{}", wait::HANG_GUARD, said.join("\n"))
            }
        }
    }

    /// The first line it logged since it said it was ready (or since the line this last
    /// returned) that contains `needle`; fails the test if none comes within
    /// [`wait::HANG_GUARD`].
    pub async fn log_line(&mut self, needle: &str) -> String {
        let log = self.log.as_mut().expect("a running redis-server");
        let found = tokio::time::timeout(wait::HANG_GUARD, async {
            while let Some(line) = log.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("redis-server exited without logging {needle:?}"),
            Err(_) => panic!("redis-server logged nothing with {needle:?} within {:?}", wait::HANG_GUARD),
        }
    }

    /// Kills the server, as a crash or a network cut would.
    pub fn kill(&mut self) {
        self.child.take();
        self.log.take();
    }
}

/// `redis-server` keeping nothing on disk (it logs to its standard output).
fn redis_command() -> Command {
    let mut command = Command::new("redis-server");
    command.args(["--save", "", "--appendonly", "no"]);
    command
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound").port()
}

/// Runs `openssl` with `args` in `dir`, failing the test with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = process::try_output(Command::new("openssl").args(args).current_dir(dir));
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!("openssl is needed to make the test's certificates ({e}); scripts/test installs it"),
    };
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A certificate authority and a certificate it signed for 127.0.0.1, in `dir`: `ca.pem`,
/// `server.pem` and `server.key`.
pub fn make_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Starmark test CA"]);
    openssl(dir, &ca);
    let mut request = vec!["req"];
    request.extend(ec);
    request.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    openssl(dir, &request);
    std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("write san.cnf");
    let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
    let mut sign = sign.to_vec();
    sign.extend(["-out", "server.pem", "-days", "2", "-extfile", "san.cnf"]);
    openssl(dir, &sign);
}
