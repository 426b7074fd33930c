# Multi-stage build: compile the release binary, then run it as a non-root user on a slim base.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml build.rs ./
COPY src src
COPY migrations migrations
COPY static static
COPY assets assets
COPY bench/tlog_bench.rs bench/tlog_bench.rs
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/starmark starmark \
    && mkdir -p /var/lib/starmark/data /var/lib/starmark/keys \
    && chown -R starmark:starmark /var/lib/starmark \
    && chmod 700 /var/lib/starmark/keys
COPY --from=build /src/target/release/starmark /usr/local/bin/starmark
USER starmark
WORKDIR /var/lib/starmark
ENV STARMARK_LISTEN=0.0.0.0:8080 \
    STARMARK_DATA_DIR=/var/lib/starmark/data \
    STARMARK_KEYS_DIR=/var/lib/starmark/keys
EXPOSE 8080
VOLUME ["/var/lib/starmark/data", "/var/lib/starmark/keys"]
# Exec form, no shell: the binary asks its own /readyz (`starmark probe`, default URL from
# STARMARK_LISTEN) and exits 0 or 1. Checked by scripts/docker_context_build and the suite.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/starmark", "probe", "--timeout-ms", "3000"]
ENTRYPOINT ["starmark"]
CMD ["serve"]
