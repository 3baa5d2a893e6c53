# slate-worker, slatectl and fake-hetzner on Debian 12.
#
#   docker build -t slate-worker:local .
#   docker compose -f docker/compose.yml up --build      (docker/README.md)
#
# Two stages: `build` installs the toolchain with scripts/install-deps (the
# same script as the README and CI; it also brings the test tools, which stay
# in this stage) and runs scripts/build; the runtime stage has only the shared
# libraries the three programs link, ca-certificates, and two small scripts.
# No secret is baked in: the key arrives at run time as a file
# (SLATE_SECRET_KEY_FILE, compose `secrets:`).

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The package layer first, so that a source change does not reinstall it.
COPY scripts/install-deps scripts/install-deps
RUN sh scripts/install-deps && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY include include
COPY src src
COPY test test
COPY scripts scripts
RUN sh scripts/build build \
 && mkdir -p /out \
 && install -m 0755 -s build/slate-worker build/slatectl build/fake-hetzner /out/

FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# Shared libraries of slate-worker, slatectl and fake-hetzner (readelf -d:
# libuv, libcurl, yajl, hiredis, libsodium, libmicrohttpd) and the CA store
# for TLS to api.hetzner.cloud.  bash (healthcheck) and coreutils are in the
# base image already.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
        libuv1 libcurl4 libyajl2 libhiredis0.14 libsodium23 libmicrohttpd12 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/slate-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/slate-healthcheck
# The worker's user: uid/gid 10001, no login, no home.  /run/slate is where
# the entrypoint may keep a private copy of the key (a tmpfs in compose).
RUN chmod 0755 /usr/local/bin/slate-entrypoint /usr/local/bin/slate-healthcheck \
 && groupadd --system --gid 10001 slate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin slate \
 && install -d -o 10001 -g 10001 -m 0700 /run/slate

LABEL org.opencontainers.image.title="slate-worker" \
      org.opencontainers.image.description="SecureSlate's Hetzner Cloud worker (slate-worker, slatectl, fake-hetzner)"

# In a container the metrics/health endpoint must be reachable from outside
# the container's loopback (Prometheus, the healthcheck uses 127.0.0.1).
ENV SLATE_METRICS_ADDR=0.0.0.0:9464
EXPOSE 9464
USER 10001:10001
WORKDIR /
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/slate-healthcheck"]
ENTRYPOINT ["/usr/local/bin/slate-entrypoint"]
CMD ["slate-worker"]
