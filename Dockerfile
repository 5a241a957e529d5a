# The Mehr image: hub and web app (the same image, a different command). Built by
# `docker compose -f deploy/compose.yaml build`; see docs/deploy.md.
FROM python:3.11-slim-bookworm

# One unprivileged user owns the database volume; nothing in the image runs as root.
RUN useradd --system --uid 10001 --home-dir /var/lib/mehr --shell /usr/sbin/nologin mehr \
    && install -d -o mehr -g mehr /var/lib/mehr /etc/mehr

WORKDIR /opt/mehr
# Sources only (.dockerignore keeps venvs, databases and tests out of the build context).
COPY pyproject.toml README.md LICENSE ./
COPY mehr ./mehr
COPY mehr_app ./mehr_app
COPY hub ./hub
COPY dashboards ./dashboards
COPY detectors ./detectors
COPY edge ./edge
COPY simulators ./simulators
RUN pip install --no-cache-dir '.[hub]'

USER mehr
VOLUME ["/var/lib/mehr"]
ENTRYPOINT ["mehr"]
CMD ["--help"]
