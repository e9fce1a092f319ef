"""The service's configuration, read from `CLEARED_*` environment variables in one place.

Every limit a deployment may need to change lives here, with its default; the app,
the downloader and the products read a `Settings`, never the environment directly.
Tests build their own `Settings(...)` instead of patching the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARED_", frozen=True)

    # the store's six settings, first to index_snapshot, are also read without pydantic by
    # lib/store/settings.py (it says why), which the service builds from these (StoreSettings.of)
    db: Path = Path("data/cleared.db")
    # the shared store for many instances and workers: postgresql://user@host/db (replaces `db`)
    database_url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    database_pool_size: int = Field(default=10, ge=1, description="connections per process, at most")
    database_migrate: bool = Field(
        default=True, description="migrate the schema at start (else: python -m lib migrate)"
    )
    # where look-ups run: "memory" (an index per process, kept in step with the store) or
    # "database" (PostgreSQL answers each query: no index to load, for short-lived instances)
    index: Literal["memory", "database"] = "memory"
    # an in-memory index is saved here as memory-mappable arrays after a build and opened
    # from here at start, changes since replayed: a process starts without reading every
    # fingerprint, and one clip from the command line reads only the pages it probes.
    # Default: beside an SQLite store (`db` + ".index"); none for PostgreSQL.
    index_snapshot: Path | None = None
    # identify: longer media are answered with 202 and scanned in the background (a task)
    sync_media_seconds: float = Field(default=60.0, gt=0)
    # the longest media analysed at all; past it the rest is ignored
    max_media_seconds: float = Field(default=4 * 3600.0, gt=0)
    max_upload_bytes: int = Field(default=200 * 2**20, gt=0)
    # downloads of client URLs
    max_download_bytes: int = Field(default=200 * 2**20, gt=0)
    download_timeout: float = Field(default=60.0, gt=0, description="whole download, seconds")
    # seconds of a live stream (Icecast, SHOUTcast) identify listens to; `live_seconds` asks for up to 60
    live_seconds: float = Field(default=20.0, gt=0, le=60)
    connect_timeout: float = Field(default=10.0, gt=0, description="per connection and per read, seconds")
    max_redirects: int = Field(default=5, ge=0)
    # private, loopback and link-local addresses are refused, except the hosts listed here
    # (comma-separated host names, addresses or networks: exactly those) ...
    allowed_hosts: str = ""
    # ... or, with no list, any of them when this is set (local testing only)
    allow_private_urls: bool = False
    # slow clients (lib/web/slow_bodies.py): the first n bytes of a request body must have
    # arrived body_grace_seconds + n / body_min_rate seconds after the request began, else 408
    body_min_rate: int = Field(default=8192, gt=0, description="bytes per second, on average")
    body_grace_seconds: float = Field(default=10.0, gt=0)
    # identify's decode, fingerprint and match run this many at once per server process (the
    # process's CPU share: it has one GIL); calls beyond wait their turn (lib/core/service.py)
    cpu_slots: int = Field(default=1, ge=1)
    # the fingerprint-index API: uploaded music, background tasks, webhooks
    storage: str = Field(
        default="data/uploads", description="where uploaded music is kept: a folder or gs://bucket/prefix"
    )
    storage_timeout: float = Field(default=30.0, gt=0, description="one bucket upload or download, retries included")
    max_index_seconds: float = Field(default=3 * 3600.0, gt=0, description="longest track an add indexes")
    # task threads per server process; 0: tasks run only in `python -m lib worker` processes
    task_workers: int = Field(default=2, ge=0)
    task_lease_seconds: float = Field(default=30.0, gt=0, description="a silent worker's task is run again after this")
    # monitored streams (lib/core/streams.py): at most this many watched by each worker
    # process (0: none here), each held under a lease another process takes over when it runs out
    stream_capacity: int = Field(default=50, ge=0)
    stream_lease_seconds: float = Field(default=30.0, gt=0)
    task_max_runs: int = Field(default=3, ge=1)
    # unset: one is generated and kept in the store (`python -m lib webhook-secret` prints it)
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_backoff_seconds: float = Field(default=2.0, gt=0, description="before the 2nd attempt; doubles each time")
    webhook_timeout: float = Field(default=10.0, gt=0)
    # who may call (lib/web/access.py): "keys" (API keys, the default), "marketplace" (only
    # through an API marketplace's proxy, which sends the shared secret), "open" (local use)
    auth: Literal["keys", "marketplace", "open"] = "keys"
    # rate-limit counters: memory:// counts per process; redis://host:port shares them
    rate_limit_storage: str = "memory://"
    # per client address: every call in open mode, and calls refused for want of a valid key
    anonymous_rate: str = "120/minute"
    marketplace_secret: SecretStr | None = None
    marketplace_secret_header: str = "X-RapidAPI-Proxy-Secret"
    marketplace_user_header: str = "X-RapidAPI-User"
    marketplace_rate: str = Field(default="600/minute", description="per marketplace user")

    # the demo page (/demo, lib/web/demo.py): anyone may try it, without a key, within these
    demo: bool = True
    demo_rate: str = Field(default="30/hour", description="demo identifications per client address")
    demo_max_upload_bytes: int = Field(default=50 * 2**20, gt=0)
    demo_max_seconds: float = Field(default=600.0, gt=0, description="the demo analyses this much of the media")
    # logs (lib/ops/logging.py): "auto" is Cloud Logging on Google Cloud, JSON lines elsewhere
    log_format: Literal["auto", "gcloud", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # a cloud instance's catalog: fetched from gs://bucket/object to `db` at start when `db` is absent
    catalog_url: str | None = Field(default=None, pattern=r"^gs://[^/]+/.+")

    @model_validator(mode="after")
    def _database_lookups_need_postgresql(self) -> Settings:
        if self.index == "database" and self.database_url is None:
            raise ValueError("CLEARED_INDEX=database needs CLEARED_DATABASE_URL (PostgreSQL answers the look-ups)")
        return self

    @model_validator(mode="after")
    def _marketplace_needs_secret(self) -> Settings:
        if self.auth == "marketplace" and self.marketplace_secret is None:
            raise ValueError("CLEARED_AUTH=marketplace needs CLEARED_MARKETPLACE_SECRET (the proxy's shared secret)")
        return self
