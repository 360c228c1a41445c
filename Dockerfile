# gor as a container (e.g. a sidecar). Capturing needs the host's network
# namespace or the pod's, and CAP_NET_RAW:
#   docker run --net=host --cap-add=NET_RAW --cap-add=NET_ADMIN gor \
#     --input-raw :80 --output-http http://staging
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpcap-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpcap0.8 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gor /usr/local/bin/gor
ENTRYPOINT ["/usr/local/bin/gor"]
