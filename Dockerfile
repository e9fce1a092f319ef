# The Cloud Run image: the API as Cloud Functions serves it (functions-framework + gunicorn),
# runtime dependencies only, no catalog inside (it is fetched from Cloud Storage at start,
# CLEARED_CATALOG_URL, or mounted at CLEARED_DB). `make image` builds it with Cloud Build.
FROM python:3.11-slim AS build
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt

FROM python:3.11-slim
# THREADS: many, for slow uploads and downloads (bench/SLOW_CLIENTS.md; identify's CPU work is
# gated per process, CLEARED_CPU_SLOTS); OPENBLAS_NUM_THREADS=1: bench/LOAD.md
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 THREADS=16 OPENBLAS_NUM_THREADS=1 \
    PORT=8080 CLEARED_DB=/tmp/cleared/cleared.db CLEARED_STORAGE=/tmp/cleared/uploads
COPY --from=build /venv /venv
WORKDIR /app
COPY main.py openapi.yaml ./
COPY lib lib
COPY gen gen
RUN useradd --system --uid 10001 cleared
USER cleared
EXPOSE 8080
CMD ["sh", "-c", "exec functions-framework --target=api --source=main.py --host=0.0.0.0 --port=${PORT}"]
