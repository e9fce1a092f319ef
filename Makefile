# The README's two commands: `make run` and `make test`. Everything else builds on them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DB ?= data/cleared.db
DEMO := data/demo
PORT ?= 8080
WORKERS ?= 2
THREADS ?= 16
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast pytest lint typecheck bench bench-long demo gen clean image deploy-run deploy-function
.PHONY: bench-scale bench-slow

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(DEMO)/catalog.csv: | $(VENV)/.installed
	$(PY) -m lib demo $(DEMO)

demo: $(VENV)/.installed $(DEMO)/catalog.csv
	$(PY) -m lib --db $(DB) ingest $(DEMO)/catalog.csv

# The demo catalog, then the API as Cloud Functions serves it: gunicorn with $(WORKERS)
# workers of $(THREADS) threads, and OpenBLAS on one thread. Many threads so that slow
# uploads and downloads, which only wait on sockets, leave threads for /healthz and fast
# calls (bench/SLOW_CLIENTS.md); identify's CPU work still runs one call at a time per
# process (CLEARED_CPU_SLOTS), as time-slicing it lengthens every call, and OpenBLAS's
# spinning helper thread cost 20 ms of CPU per call (bench/LOAD.md)
# (`make run DEBUG=1`: Flask's reloading debug server instead).
run: demo
	$(PY) -m lib.cli.showcase --db $(DB) --excerpts $(DEMO)/excerpts --port $(PORT)
	CLEARED_DB=$(DB) WORKERS=$(WORKERS) THREADS=$(THREADS) OPENBLAS_NUM_THREADS=1 $(VENV)/bin/functions-framework --target=api --source=main.py \
		--port=$(PORT) $(if $(DEBUG),--debug)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check lib tests bench main.py
	$(VENV)/bin/ruff format --check lib tests bench main.py

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy lib main.py

test: lint typecheck pytest

# every test; the browser tests (-m browser) need Chromium
pytest: $(VENV)/.installed $(CHROMIUM)
	$(PY) -m pytest

# the tests that neither spawn processes, build artifacts (-m slow) nor drive a browser:
# no Chromium needed
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow and not browser"

# Debian's Chromium for the demo page's browser tests (Playwright drives it; it never
# downloads a browser of its own)
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium'

# gen/models.py: the API's pydantic models, generated from openapi.yaml (tests fail when it is stale)
GEN_OUT ?= gen/models.py
gen: $(VENV)/.installed
	$(VENV)/bin/datamodel-codegen --input openapi.yaml --input-file-type openapi --output $(GEN_OUT) \
		--output-model-type pydantic_v2.BaseModel --target-python-version 3.11 --disable-timestamp \
		--use-annotated --field-constraints --use-standard-collections --use-union-operator \
		--use-schema-description --use-field-description --formatters ruff-format ruff-check
	@# the project's formatting wherever GEN_OUT is (the staleness test writes to a temp folder)
	$(VENV)/bin/ruff format --quiet --config pyproject.toml --config "format.skip-magic-trailing-comma = true" $(GEN_OUT)

# CORPUS: any corpus make_corpus.py builds (the public one is built when missing), e.g.
# make bench CORPUS=.corpus-dev BENCH_OUT=bench/RESULTS_DEV.md
CORPUS ?= .corpus
BENCH_OUT ?= bench/RESULTS.md
# (OpenBLAS on one thread, as the service runs: its spinning helper doubled a query's CPU time)
bench: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m bench.run --corpus $(CORPUS) --out $(BENCH_OUT)

# an hour-long DJ mix of corpus music scanned for every song (long media)
bench-long: $(VENV)/.installed
	$(PY) -m bench.long_media

# query latency and memory at 10 to 10,000 catalog hours, in memory and in PostgreSQL
# (a server at postgresql://postgres@127.0.0.1:5432; report in bench/SCALE.md)
bench-scale: $(VENV)/.installed
	$(PY) -m bench.scale

# query time with 100 owners' collections beside the reference catalog (report in
# bench/TENANCY.md; PostgreSQL at postgresql://postgres@127.0.0.1:5432 as bench-scale)
.PHONY: bench-tenancy
bench-tenancy: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m bench.tenancy --corpus $(CORPUS)

# /healthz timed while 10 clients upload at 20 KB/s each, against the server as `make run`
# starts it (its own store of the demo catalog); report in bench/SLOW_CLIENTS.md, exits 1
# when a /healthz call took over 1 s
bench-slow: $(VENV)/.installed $(DEMO)/catalog.csv
	$(PY) -m bench.slow_clients --demo $(DEMO) --workers $(WORKERS) --threads $(THREADS)

# monitored streams: STREAMS endless local radios of CORPUS music watched by one process
# (report in bench/STREAMS.md)
STREAMS ?= 100
.PHONY: bench-streams
bench-streams: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m bench.streams --corpus $(CORPUS) --streams $(STREAMS)

# the identify API under load (load_test.json): Locust headless against a local server,
# report in bench/LOAD.md; exits 1 when a scenario misses its criteria
.PHONY: load
load: $(VENV)/.installed $(DEMO)/catalog.csv
	$(PY) -m bench.load --demo $(DEMO)

# ---- Deploy (README "Deploy"): gcloud signed in (`gcloud auth login` here; workload
# identity federation in .github/workflows/ci.yml). STAGE names the service: cleared-<stage>.
STAGE ?= staging
GCP_PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
REGION ?= europe-west1
SERVICE = cleared-$(STAGE)
BUCKET ?= $(GCP_PROJECT)-cleared
CATALOG_URL ?= gs://$(BUCKET)/$(STAGE)/cleared.db
IMAGE ?= $(REGION)-docker.pkg.dev/$(GCP_PROJECT)/cleared/cleared:$(shell git rev-parse --short=12 HEAD)
# one instance while the store is SQLite: each instance keeps its own copy (docs/operations.md)
MAX_INSTANCES ?= 1
GCLOUD = gcloud --project=$(GCP_PROJECT) --quiet
export STAGE SERVICE REGION CATALOG_URL IMAGE MAX_INSTANCES BUCKET

# the Cloud Run image, built by Cloud Build from the Dockerfile (no Docker needed here)
image:
	$(GCLOUD) builds submit --region=$(REGION) --tag=$(IMAGE) .

# Cloud Run: the image, with the probes and settings of deploy/cloudrun.yaml
deploy-run: image
	envsubst < deploy/cloudrun.yaml > .cloudrun.rendered.yaml
	$(GCLOUD) run services replace .cloudrun.rendered.yaml --region=$(REGION)
	$(GCLOUD) run services add-iam-policy-binding $(SERVICE) --region=$(REGION) \
		--member=allUsers --role=roles/run.invoker  # callers are checked by API key, not IAM
	rm -f .cloudrun.rendered.yaml

# Cloud Functions gen2, as the original Cleared ran: main.py's `api`, built from source
deploy-function:
	$(GCLOUD) functions deploy $(SERVICE) --gen2 --region=$(REGION) --runtime=python311 \
		--source=. --entry-point=api --trigger-http --allow-unauthenticated \
		--memory=2Gi --cpu=1 --timeout=300s --max-instances=$(MAX_INSTANCES) \
		--set-env-vars=THREADS=16,OPENBLAS_NUM_THREADS=1,CLEARED_DB=/tmp/cleared.db,CLEARED_CATALOG_URL=$(CATALOG_URL),CLEARED_STORAGE=gs://$(BUCKET)/$(STAGE)/uploads \
		--set-secrets=CLEARED_WEBHOOK_SECRET=cleared-webhook-secret:latest

clean:
	rm -rf $(VENV) data bench/work .pytest_cache .mypy_cache .ruff_cache
