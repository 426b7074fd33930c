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
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["starmark"]
CMD ["serve"]
