# PostgreSQL 15 from Debian's packages, for machines where the official
# postgres:15 image cannot be pulled (HOTLINE_POSTGRES_IMAGE=hotline-link/postgres:local).
# Its entrypoint takes the official image's POSTGRES_USER, POSTGRES_DB and
# POSTGRES_PASSWORD_FILE.
FROM debian:bookworm-slim
RUN if ! dpkg-query -W postgresql-15 >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
      && rm -rf /var/lib/apt/lists/*; fi
COPY docker/local/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
