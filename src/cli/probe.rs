//! `starmark probe`: asks a running instance whether it is ready (`/readyz`) or alive
//! (`/healthz`) and exits 0 or 1 with one line, for container health checks and scripts. The
//! image's `HEALTHCHECK` runs it directly, without a shell (`debian:bookworm-slim`'s `/bin/sh`
//! is dash, which has no `/dev/tcp`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Args;

use super::Outcome;
use crate::config::Config;

#[derive(Args)]
pub struct ProbeArgs {
    /// The URL to ask; by default `/readyz` on this instance's `STARMARK_LISTEN` address
    /// (a wildcard address is asked on loopback). Any answer but 200 fails the probe.
    #[arg(long)]
    url: Option<String>,
    /// Longest wait for the whole answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

pub async fn run(config: &Config, args: ProbeArgs) -> anyhow::Result<Outcome> {
    let url = args.url.unwrap_or_else(|| default_url(config.listen));
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let started = Instant::now();
    let answer = ask(&url, timeout).await;
    let took = started.elapsed().as_millis();
    match answer {
        Ok((200, _)) => {
            println!("ok: {url} answered 200 in {took} ms");
            Ok(Outcome::Done)
        }
        Ok((status, body)) => {
            eprintln!("not ready: {url} answered {status} in {took} ms: {}", one_line(&body));
            Ok(Outcome::Failed)
        }
        Err(error) => {
            eprintln!("unreachable: {url}: {error}");
            Ok(Outcome::Failed)
        }
    }
}

/// `http://<listen>/readyz`, with a wildcard address replaced by loopback.
fn default_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

async fn ask(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let response = client.get(url).send().await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| describe(&e))?;
    Ok((status, body))
}

/// reqwest's error with its causes, on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The start of a body, on one line.
fn one_line(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_asks_readyz_on_the_listen_address_or_loopback() {
        assert_eq!(default_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080/readyz");
        assert_eq!(default_url("[::]:9000".parse().unwrap()), "http://[::1]:9000/readyz");
        assert_eq!(default_url("10.0.0.5:8081".parse().unwrap()), "http://10.0.0.5:8081/readyz");
    }

    #[test]
    fn a_body_is_shown_on_one_bounded_line() {
        assert_eq!(one_line("{\n  \"ready\": false\n}"), "{ \"ready\": false }");
        assert_eq!(one_line(&"x".repeat(500)).chars().count(), 301);
    }
}
