# ---- build -------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /app

# Build the dependencies alone first, against a stub crate, so that editing the
# sources does not rebuild them (this layer is reused while Cargo.toml/Cargo.lock
# stay the same).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. `sqlx::migrate!` embeds migrations/ at compile time; the queries are
# checked against the committed `.sqlx/` data, so the build needs no database.
ENV SQLX_OFFLINE=true
COPY .cargo ./.cargo
COPY .sqlx ./.sqlx
COPY src ./src
COPY migrations ./migrations
# The program catalogue the proxy aliases check programs against (`include_str!`).
COPY catalogue ./catalogue
# Swagger UI for /docs, embedded (`include_bytes!`).
COPY vendor ./vendor
# COPY keeps the files' own mtimes, which may be older than the stub build:
# touch them so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -Dm755 target/release/hoody-api /out/hoody-api

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

# curl is only for the HEALTHCHECK. No PostgreSQL here: DATABASE_URL must point
# at a server (docker-compose.yml provides one).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 hoody \
 && useradd --system --uid 10001 --gid hoody --home-dir /var/lib/hoody --shell /usr/sbin/nologin hoody \
 && install -d -o hoody -g hoody -m 0750 /var/lib/hoody

COPY --from=builder /out/hoody-api /usr/local/bin/hoody-api

ENV HOODY_LISTEN=0.0.0.0:8080 \
    HOODY_DATA_DIR=/var/lib/hoody

USER hoody:hoody
WORKDIR /var/lib/hoody
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

ENTRYPOINT ["/usr/local/bin/hoody-api"]
CMD ["serve"]
