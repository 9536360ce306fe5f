# Asterism images: one target per service plus the all-in-one.
#   docker build --target edge -t asterism-edge .
#   (targets: asterism, edge, registrar, router, media)
# Runtime images are Debian slim, non-root (uid 10001), with only the binary;
# the media image also carries Debian's asterisk-core-sounds-en-wav prompts.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
      -p asterism -p asterism-edge -p asterism-registrar -p asterism-router -p asterism-media \
 && mkdir -p /out \
 && cp target/release/asterism target/release/asterism-edge target/release/asterism-registrar \
       target/release/asterism-router target/release/asterism-media /out/

FROM debian:bookworm-slim AS runtime
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

FROM debian:bookworm-slim AS media
RUN apt-get update \
 && apt-get install -y --no-install-recommends asterisk-core-sounds-en-wav \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin asterism
COPY --from=build /out/asterism-media /usr/local/bin/
USER 10001:10001
ENV ASTERISM_LOG_FORMAT=json ASTERISM_SOUNDS_DIR=/usr/share/asterisk/sounds
EXPOSE 50054 10000-20000/udp
ENTRYPOINT ["/usr/local/bin/asterism-media"]

FROM runtime AS asterism
COPY --from=build /out/asterism /usr/local/bin/
COPY examples /etc/asterism
ENV ASTERISM_CONFIG_DIR=/etc/asterism
EXPOSE 5060/udp 5060/tcp 10000-20000/udp
ENTRYPOINT ["/usr/local/bin/asterism"]
