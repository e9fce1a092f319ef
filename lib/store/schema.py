"""The store's schema as numbered migrations, applied in order, each once, recorded in
`schema_migrations`: at start (`CLEARED_DATABASE_MIGRATE`, on by default) or by
`python -m lib migrate`. Instances starting together take turns under one lock, so
each migration runs exactly once.

A migration is written once in the types both engines read the same way; `_TYPES`
turns SQLite's BLOB and REAL into PostgreSQL's BYTEA and DOUBLE PRECISION (PostgreSQL's
REAL is 4 bytes, too coarse for a lease's epoch seconds). Where the engines differ in
more than a type, a migration gives one text per dialect. The first migration is the
schema of the files made before migrations existed, with IF NOT EXISTS, so those files
adopt it unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from lib.store.database import Database

_TYPES = {"postgresql": {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str | Mapping[str, str]  # one text, or one per dialect (absent: not for that dialect)
    # SQLite's way to rebuild a table others refer to: with foreign keys on, dropping the
    # old table would cascade its deletes into theirs (https://sqlite.org/lang_altertable.html)
    foreign_keys_off: bool = False

    def statements(self, dialect: str) -> list[str]:
        text = self.sql if isinstance(self.sql, str) else self.sql.get(dialect, "")
        for generic, native in _TYPES.get(dialect, {}).items():
            text = re.sub(rf"\b{generic}\b", native, text)
        return [s.strip() for s in text.split(";") if s.strip()]


_OWNERS = """;
    CREATE INDEX tracks_by_owner ON tracks (owner, track_id);
    ALTER TABLE music ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE catalog_changes ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN operator INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE webhook_secrets (
        owner TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        retires_at REAL,
        PRIMARY KEY (owner, secret)
    )
"""

MIGRATIONS = (
    Migration(1, "catalog, uploads, tasks, keys", """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tracks (
            track_id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
            release_date TEXT NOT NULL DEFAULT '', isrc TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '',
            song_link TEXT NOT NULL DEFAULT '', cover_url TEXT NOT NULL DEFAULT '',
            duration REAL NOT NULL DEFAULT 0,
            content_id INTEGER NOT NULL DEFAULT 0, exclusive INTEGER NOT NULL DEFAULT 0,
            audio_sha1 TEXT UNIQUE,
            added_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS fingerprints (
            track_id TEXT PRIMARY KEY REFERENCES tracks(track_id) ON DELETE CASCADE,
            n_frames INTEGER NOT NULL,
            hashes BLOB NOT NULL,
            times BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS covers (
            track_id TEXT PRIMARY KEY REFERENCES tracks(track_id) ON DELETE CASCADE,
            mime TEXT NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS music (
            music_id TEXT PRIMARY KEY,
            filename TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            sha1 TEXT NOT NULL,
            source_url TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS tasks (
            task_id TEXT PRIMARY KEY,
            task_name TEXT NOT NULL,
            music_id TEXT NOT NULL REFERENCES music(music_id),
            request TEXT NOT NULL,
            callback_url TEXT,
            status TEXT NOT NULL,
            result TEXT,
            error TEXT,
            runs INTEGER NOT NULL DEFAULT 0,
            lease_until REAL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            completed_at TEXT,
            webhook TEXT NOT NULL DEFAULT 'none',
            webhook_due REAL,
            webhook_lease_until REAL
        );
        CREATE INDEX IF NOT EXISTS tasks_to_run ON tasks (status, created_at);
        CREATE INDEX IF NOT EXISTS tasks_to_deliver ON tasks (webhook, webhook_due);
        CREATE TABLE IF NOT EXISTS deliveries (
            task_id TEXT NOT NULL REFERENCES tasks(task_id),
            attempt INTEGER NOT NULL,
            at TEXT NOT NULL,
            status_code INTEGER,
            error TEXT,
            duration_ms REAL NOT NULL,
            PRIMARY KEY (task_id, attempt)
        );
        CREATE TABLE IF NOT EXISTS api_keys (
            key_id TEXT PRIMARY KEY,
            secret_sha256 TEXT NOT NULL,
            owner TEXT NOT NULL,
            products TEXT NOT NULL,
            monthly_quota INTEGER,
            rate TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE IF NOT EXISTS usage (
            caller TEXT NOT NULL,
            product TEXT NOT NULL,
            month TEXT NOT NULL,
            calls INTEGER NOT NULL,
            PRIMARY KEY (caller, product, month)
        )
    """),
    # every add and remove, in commit order: each instance's in-memory index replays
    # what it has not seen (lib/core/recognizer.py) instead of reloading the catalog
    Migration(2, "catalog changes", {
        "sqlite": """CREATE TABLE catalog_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, track_id TEXT NOT NULL)""",
        "postgresql": """CREATE TABLE catalog_changes (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, op TEXT NOT NULL, track_id TEXT NOT NULL)""",
    }),
    # PostgreSQL answers look-ups itself (lib/store/postings.py): one row per hash, a
    # covering index so a look-up never reads the table, BRIN to find a track's rows
    Migration(3, "fingerprint postings", {
        "postgresql": """
            ALTER TABLE fingerprints ADD COLUMN track_no INTEGER GENERATED ALWAYS AS IDENTITY UNIQUE;
            CREATE TABLE postings (hash INTEGER NOT NULL, track_no INTEGER NOT NULL, frame INTEGER NOT NULL);
            CREATE INDEX postings_by_hash ON postings (hash) INCLUDE (track_no, frame);
            CREATE INDEX postings_by_track ON postings USING brin (track_no)
        """,
    }),
    # hashes with more postings than the first pass reads (query_hash_cap's default, 8),
    # in the order they became crowded: instances skip them without asking and read only
    # the rows added since their last look (lib/store/postings.py)
    Migration(4, "crowded hashes", {
        "postgresql": """
            CREATE TABLE crowded_hashes (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hash INTEGER NOT NULL UNIQUE);
            INSERT INTO crowded_hashes (hash) SELECT hash FROM postings GROUP BY hash HAVING count(*) > 8 ORDER BY hash
        """,
    }),
    # many customers, one store (docs/tenancy.md): each track, music, task and catalog change
    # has an owner ('' = the operator's reference catalog); the same audio may be in several
    # collections, once in each; operator keys; each owner's webhook signing secrets.
    # SQLite cannot drop a column's UNIQUE: the tracks table is rebuilt (foreign keys off)
    Migration(5, "owners and collections", {
        "sqlite": """
            CREATE TABLE tracks_owned (
                track_id TEXT PRIMARY KEY,
                title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
                release_date TEXT NOT NULL DEFAULT '', isrc TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '',
                song_link TEXT NOT NULL DEFAULT '', cover_url TEXT NOT NULL DEFAULT '',
                duration REAL NOT NULL DEFAULT 0,
                content_id INTEGER NOT NULL DEFAULT 0, exclusive INTEGER NOT NULL DEFAULT 0,
                audio_sha1 TEXT,
                added_at TEXT NOT NULL,
                owner TEXT NOT NULL DEFAULT '',
                UNIQUE (owner, audio_sha1)
            );
            INSERT INTO tracks_owned SELECT *, '' FROM tracks;
            DROP TABLE tracks;
            ALTER TABLE tracks_owned RENAME TO tracks;
        """ + _OWNERS,
        "postgresql": """
            ALTER TABLE tracks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
            ALTER TABLE tracks DROP CONSTRAINT tracks_audio_sha1_key;
            ALTER TABLE tracks ADD CONSTRAINT tracks_owner_audio UNIQUE (owner, audio_sha1);
        """ + _OWNERS,
    }, foreign_keys_off=True),
    # usage per day, in calls and in analysed media seconds, with its owner; a key may also
    # have a monthly quota of media minutes (docs/access.md). Past months' calls are kept,
    # on their month's first day
    Migration(6, "usage in media minutes", """
        CREATE TABLE usage_days (
            caller TEXT NOT NULL,
            owner TEXT NOT NULL,
            product TEXT NOT NULL,
            day TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            media_seconds REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (caller, product, day)
        );
        CREATE INDEX usage_by_owner ON usage_days (owner, day);
        INSERT INTO usage_days (caller, owner, product, day, calls)
            SELECT u.caller, COALESCE(k.owner, u.caller), u.product, u.month || '-01', u.calls
            FROM usage u LEFT JOIN api_keys k ON k.key_id = u.caller;
        DROP TABLE usage;
        ALTER TABLE api_keys ADD COLUMN monthly_minutes REAL
    """),
    # monitored streams, held by one worker at a time under a lease as tasks are, and the
    # events (a song started, the source dropped or came back) owed to their webhooks
    Migration(7, "monitored streams", """
        CREATE TABLE streams (
            stream_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            url TEXT NOT NULL,
            callback_url TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            include_own INTEGER NOT NULL DEFAULT 0,
            bill TEXT,
            state TEXT NOT NULL,
            lease_until REAL,
            worker TEXT,
            last_song TEXT,
            last_error TEXT,
            listened_seconds REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE INDEX streams_by_owner ON streams (owner, created_at);
        CREATE INDEX streams_to_watch ON streams (state, lease_until);
        CREATE TABLE stream_events (
            event_id TEXT PRIMARY KEY,
            stream_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            callback_url TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            webhook TEXT NOT NULL DEFAULT 'pending',
            webhook_due REAL NOT NULL,
            webhook_lease_until REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX stream_events_to_deliver ON stream_events (webhook, webhook_due);
        ALTER TABLE api_keys ADD COLUMN max_streams INTEGER
    """),
)  # fmt: skip


@contextmanager
def _foreign_keys_off(database: Database, off: bool) -> Iterator[None]:
    """SQLite's foreign keys off around a migration that rebuilds a table (checked before
    it commits, in `migrate`)."""
    if not off or database.dialect != "sqlite":
        yield
        return
    database.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or it is ignored
    try:
        yield
    finally:
        database.execute("PRAGMA foreign_keys=ON")


def applied(database: Database) -> list[int]:
    database.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    return sorted(row[0] for row in database.execute("SELECT version FROM schema_migrations"))


def pending(database: Database) -> list[Migration]:
    done = set(applied(database))
    return [m for m in MIGRATIONS if m.version not in done]


def migrate(database: Database) -> list[Migration]:
    """Apply the pending migrations, each in its own transaction; returns those applied."""
    ran = []
    for migration in pending(database):
        with (
            _foreign_keys_off(database, migration.foreign_keys_off),
            database.transaction(lock="cleared:migrations") as db,
        ):
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)).fetchone():
                continue  # another instance applied it while this one waited for the lock
            for statement in migration.statements(database.dialect):
                db.execute(statement)
            if migration.foreign_keys_off and database.dialect == "sqlite":
                broken = db.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration {migration.version} left rows without their parent: {broken[:3]}")
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        ran.append(migration)
    return ran
