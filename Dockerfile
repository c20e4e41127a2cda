# Dockerfile: http-prefork (stage 5) in a small image, built from this tree.
#
#   docker build -t serverlab .
#   docker compose up            # compose.yaml: stage 5 with examples/serverlab.toml mounted
#
# Stage 1 (build) runs the project's own steps on Debian 12: tools/deps.sh (which
# installs make, cmake, the compilers and libraries), then `make build PRESET=release`
# (the whole tree, as CI builds it).
# Stage 2 (run) is debian:12-slim with the few shared libraries the servers link,
# the binaries, the site, and a non-root user. tests/config/docker_check.sh checks
# what can be checked without pulling an image (docs/CONFIG.md, "Docker").

FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN tools/deps.sh build && make build PRESET=release

FROM debian:12-slim AS run
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfmt9 libssl3 libnghttp2-14 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /srv/serverlab --shell /usr/sbin/nologin serverlab
WORKDIR /srv/serverlab
COPY --from=build /src/build/release/stage5-prefork/http-prefork /usr/local/bin/
COPY --from=build /src/build/release/stage2-http-seq/http-get /usr/local/bin/
COPY --from=build /src/www ./www
COPY examples/serverlab.toml /etc/serverlab/serverlab.toml
USER serverlab
# Inside the container the server must listen on every interface; the environment
# wins over the file, so the mounted file can stay the one used on a laptop.
ENV SERVERLAB_BIND=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["http-get", "--output", "/dev/null", "http://127.0.0.1:8080/-/health"]
# SIGHUP reloads the configuration, SIGUSR1 reopens logs, SIGTERM stops fast
# (docker stop), SIGQUIT drains (STOPSIGNAL could say so).
CMD ["http-prefork", "--config", "/etc/serverlab/serverlab.toml"]
