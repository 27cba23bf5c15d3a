# The lineage server's image: `lineage serve` (FastAPI) with the PostgreSQL, S3 and GCS extras, as a non-root user
# on a read-only root filesystem (the chart mounts /tmp; LINEAGE_HOME=/tmp/lineage). Build from the repository root:
#   docker build -f docker/server.Dockerfile -t ghcr.io/ORG/lineage-server:0.1.0 .
# and deploy it by digest (image.digest in charts/lineage-server). The entrypoint is `lineage`; the chart gives
# `serve --host 0.0.0.0 --port 5000` and, in the migration Job, `doctor --migrate`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lineage_core ./lineage_core
COPY providers/lineage_airflow ./providers/lineage_airflow
COPY kfp_components/lineage_kfp ./kfp_components/lineage_kfp
RUN pip install --no-cache-dir --prefix=/install ".[server,postgres,s3,gcs]"

FROM python:3.11-slim
RUN groupadd --gid 10001 lineage && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin lineage
COPY --from=build /install /usr/local
ENV LINEAGE_HOME=/tmp/lineage PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 5000
ENTRYPOINT ["lineage"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5000"]
