# Redis from Debian's package, for machines where the official redis:7 image
# cannot be pulled (HOTLINE_REDIS_IMAGE=hotline-link/redis:local).
FROM debian:bookworm-slim
RUN if ! dpkg-query -W redis-server >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
      && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /data
CMD ["redis-server"]
