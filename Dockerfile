# syntax=docker/dockerfile:1
# Asterism images: one target per service plus the all-in-one.
#   docker build --target edge -t asterism-edge .
#   (targets: asterism, edge, registrar, router, media; the chart's `helm test`
#   runs `asterism probe` from the all-in-one image)
# Dependencies are compiled in a layer of their own (cargo-chef: it changes only
# when Cargo.lock or a manifest does), binaries are stripped, base images are
# pinned (override RUST_IMAGE/DEBIAN_IMAGE with @sha256 digests in your CI),
# runtime images are Debian slim, non-root (uid 10001), with only the binary;
# the media image also carries Debian's asterisk-core-sounds-en-wav prompts and
# asterisk-moh-opsound-wav hold music.
# Built without the `example-users` feature: no image holds a known password,
# the all-in-one needs your sip.conf in /etc/asterism.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG DEBIAN_IMAGE=debian:12.12-slim
ARG CARGO_CHEF_VERSION=0.1.78

FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION
# The .proto files compile with protox (pure Rust): no protoc to install.
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
ENV CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --no-default-features --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --no-default-features --bins \
      -p asterism -p asterism-edge -p asterism-registrar -p asterism-router -p asterism-media \
 && mkdir -p /out \
 && cp target/release/asterism target/release/asterism-edge target/release/asterism-registrar \
       target/release/asterism-router target/release/asterism-media /out/

FROM ${DEBIAN_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Asterism" \
      org.opencontainers.image.description="Asterisk-compatible IP PBX as Kubernetes-ready services" \
      org.opencontainers.image.source="https://github.com/asterism/asterism" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin asterism
USER 10001:10001
ENV ASTERISM_LOG_FORMAT=json

FROM runtime AS edge
COPY --from=build /out/asterism-edge /usr/local/bin/
EXPOSE 5060/udp 5060/tcp 50053
ENTRYPOINT ["/usr/local/bin/asterism-edge"]

FROM runtime AS registrar
COPY --from=build /out/asterism-registrar /usr/local/bin/
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/asterism-registrar"]

FROM runtime AS router
COPY --from=build /out/asterism-router /usr/local/bin/
EXPOSE 50052
ENTRYPOINT ["/usr/local/bin/asterism-router"]

FROM runtime AS media
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends asterisk-core-sounds-en-wav asterisk-moh-opsound-wav \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001
COPY --from=build /out/asterism-media /usr/local/bin/
ENV ASTERISM_SOUNDS_DIR=/usr/share/asterisk/sounds
EXPOSE 50054 10000-20000/udp
ENTRYPOINT ["/usr/local/bin/asterism-media"]

FROM runtime AS asterism
COPY --from=build /out/asterism /usr/local/bin/
# The example dialplan only: sip.conf (users and passwords) is yours to mount.
COPY examples/extensions.conf /etc/asterism/extensions.conf
ENV ASTERISM_CONFIG_DIR=/etc/asterism
EXPOSE 5060/udp 5060/tcp 10000-20000/udp
ENTRYPOINT ["/usr/local/bin/asterism"]
