# gor as a container: a sidecar next to the service it mirrors, or one per
# node (examples/k8s/). It runs as an unprivileged user; the binary carries
# the two capabilities capture needs (CAP_NET_RAW, CAP_NET_ADMIN) as file
# capabilities, so the container needs those two added and nothing else:
#   docker build -t gor .
#   docker run --net=host --cap-drop=ALL --cap-add=NET_RAW --cap-add=NET_ADMIN gor \
#     --input-raw :80 --output-http http://staging
# The metrics endpoint (--http-pprof :8181, set below) serves /metrics for
# Prometheus and the health check. Recordings go to /var/lib/gor.

FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpcap-dev libssl-dev zlib1g-dev pkg-config make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpcap0.8 libssl3 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 gor \
    && useradd --system --uid 10001 --gid gor --no-create-home --shell /usr/sbin/nologin gor \
    && install -d -o gor -g gor -m 0750 /var/lib/gor
COPY --from=build /src/target/release/gor /usr/local/bin/gor
# setcap comes and goes in one layer: the image keeps only the capability.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/gor \
    && apt-get purge -y --auto-remove libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001
WORKDIR /var/lib/gor
ENV GOR_METRICS_PORT=8181
EXPOSE 8181
# Healthy while gor answers on its metrics endpoint. bash's /dev/tcp: the
# image needs no HTTP client.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${GOR_METRICS_PORT} && printf 'GET /metrics HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# Arguments after the image name are appended: GoReplay's flags. A later
# --http-pprof wins over this one (set GOR_METRICS_PORT to match).
ENTRYPOINT ["/usr/local/bin/gor", "--http-pprof", ":8181"]
