# Weft: multi-stage build of the web client and the server, one small runtime image.

# 1. Web client (Vite build into web-client/dist).
FROM node:20-bookworm-slim AS web
WORKDIR /src/web-client
COPY web-client/package.json web-client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web-client/ ./
RUN npm run build

# 2. Server (release binary).
FROM rust:1.95-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
# jemalloc build settings for the weft binary (env for its build script)
COPY .cargo .cargo
COPY crdt crdt
COPY server server
COPY tests tests
# A workspace member (the benchmark load generator): cargo needs its manifest to load the workspace.
COPY bench/loadgen bench/loadgen
COPY migrations migrations
# The commit shown by weft_build_info on /metrics (the build has no .git):
#   docker build --build-arg WEFT_BUILD_COMMIT=$(git rev-parse --short HEAD) .
ARG WEFT_BUILD_COMMIT=unknown
RUN cargo build --release --locked --bin weft

# 3. Runtime: the binary, the built client, a non-root user, a data volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/weft --create-home weft
COPY --from=server /src/target/release/weft /usr/local/bin/weft
COPY --from=web /src/web-client/dist /usr/share/weft/web
USER weft
WORKDIR /var/lib/weft
ENV WEFT_LISTEN=0.0.0.0:8080 \
    WEFT_DATA_DIR=/var/lib/weft/data \
    WEFT_WEB_DIR=/usr/share/weft/web
VOLUME ["/var/lib/weft/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["weft"]
CMD ["serve"]
