"""One store API over an embedded DuckDB file (default) or PostgreSQL (production).

The same SQL runs on both: write queries with ``?`` placeholders and standard SQL.
Every write is one transaction: a failed or interrupted load leaves the previous data
exactly as it was. Connections are short-lived so several gunicorn workers can share a
DuckDB file (DuckDB lets one process hold the file at a time; we retry briefly on lock).

Versions: every write to a data table (:data:`VERSIONED`) bumps a counter in ``meta``
(``data_version``, or ``feedback_version`` for feedback) *in the same transaction*, so a reader
that sees the new counter sees the new rows. Serving processes poll :meth:`Store.versions`
(a DuckDB file store also mirrors the counters to ``<database>.versions``, written while the
writer still holds the file, so polling never opens the database).
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.schemas import TABLES, UNIQUE_KEYS, Column, column_names

DATA_VERSION = "data_version"
FEEDBACK_VERSION = "feedback_version"
#: meta key of a synthetic world's last day: the "today" a demo store reasons at (see engine.service.live)
DEMO_AS_OF = "demo_as_of"
#: rows per batch of :meth:`Store.read_compact`
BATCH_ROWS = 1_000_000
#: table -> the version counter a write to it bumps (derived tables such as recommendations bump none)
VERSIONED = {"hcps": DATA_VERSION, "contents": DATA_VERSION, "campaigns": DATA_VERSION,
             "interactions": DATA_VERSION, "patients": DATA_VERSION, "feedback": FEEDBACK_VERSION}

_SQL_TYPES = {
    "duckdb": {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
               "date": "DATE", "timestamp": "TIMESTAMP"},
    "postgresql": {"str": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION", "bool": "BOOLEAN",
                   "date": "DATE", "timestamp": "TIMESTAMP"},
}


class StoreError(RuntimeError):
    """A store operation failed; the message says which table and why."""


def _ddl(dialect: str, table: str, columns: tuple[Column, ...]) -> str:
    types = _SQL_TYPES[dialect]
    cols = [f'"{c.name}" {types[c.type]}{"" if c.nullable else " NOT NULL"}' for c in columns]
    keys = [c.name for c in columns if c.primary_key]
    if keys:
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in keys) + ")")
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({", ".join(cols)})'


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns, in order, cast to their types.

    Raises
    ------
    StoreError
        When a column is unknown or a non-nullable column is missing.
    """
    schema = TABLES[table]
    names = [c.name for c in schema]
    extra = [c for c in frame.columns if c not in names]
    if extra:
        raise StoreError(f"{table}: unknown column(s) {extra}; expected {names}")
    out = pd.DataFrame(index=frame.index)
    for col in schema:
        if col.name not in frame.columns:
            if not col.nullable:
                raise StoreError(f"{table}: required column '{col.name}' is missing")
            values = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        else:
            values = frame[col.name]
        if col.type == "str":
            # vectorised: pandas' string dtype keeps nulls as NA (written as NULL by both backends)
            values = values.astype("string")
        elif col.type == "int":
            values = pd.to_numeric(values).astype("Int64")
        elif col.type == "float":
            values = pd.to_numeric(values).astype("float64")
        elif col.type == "bool":
            values = values.astype("boolean")
        elif col.type == "date":
            values = pd.to_datetime(values).dt.normalize().astype("datetime64[us]")
        elif col.type == "timestamp":
            values = pd.to_datetime(values).astype("datetime64[us]")
        out[col.name] = values
    return out.reset_index(drop=True)


class Store:
    """Tables of :mod:`engine.data.schemas` in DuckDB or PostgreSQL.

    Parameters
    ----------
    url : ``duckdb:///absolute/path.duckdb``, ``duckdb:///:memory:`` or ``postgresql://...``.
    """

    def __init__(self, url: str):
        self.url = url
        if url.startswith("duckdb://"):
            self.dialect = "duckdb"
            self._path = url[len("duckdb://"):].lstrip("/") if url.endswith(":memory:") else url[len("duckdb:///") - 1:]
            if self._path.endswith(":memory:"):
                import duckdb
                self._memory_conn = duckdb.connect(":memory:")
            else:
                self._memory_conn = None
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
        else:
            raise StoreError(f"DATABASE_URL must start with duckdb:/// or postgresql:// (got {url!r})")
        self._lock = threading.RLock()
        self.create_schema()

    # -- connections ---------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator:
        with self._lock:
            if self.dialect == "postgresql":
                import psycopg
                conn = psycopg.connect(self.url)
                try:
                    yield conn
                finally:
                    conn.close()
                return
            if self._memory_conn is not None:
                yield self._memory_conn
                return
            import duckdb
            for attempt in range(100):
                try:
                    conn = duckdb.connect(self._path)
                    break
                except (duckdb.IOException, duckdb.ResourceInUseException) as exc:
                    # another process holds the file, or another Store of this process (a background
                    # version check) has it open: wait briefly
                    busy = "lock" in str(exc).lower() or "already attached" in str(exc).lower()
                    if not busy or attempt == 99:
                        raise StoreError(f"cannot open {self._path}: {exc}") from exc
                    time.sleep(0.05)
            try:
                yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def transaction(self, bump: tuple[str, ...] = ()) -> Iterator:
        """A connection inside one transaction: committed on success, rolled back on error.

        ``bump``: version counters (``meta`` keys) incremented inside the same transaction.
        """
        with self._connect() as conn:
            if self.dialect == "postgresql":
                with conn.transaction():
                    yield conn
                    versions = self._bump(conn, bump)
            else:
                conn.execute("BEGIN TRANSACTION")
                try:
                    yield conn
                    versions = self._bump(conn, bump)
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            if bump:  # still holding the connection: mirrors are written in commit order
                self._write_versions_mirror(versions)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    # -- versions --------------------------------------------------------------------
    def _bump(self, conn, keys) -> dict[str, str]:
        for key in sorted(set(keys)):  # "<counter>.<random>": ordered for people, unique across store copies
            token = uuid.uuid4().hex[:8]
            conn.execute(self._sql(
                'INSERT INTO meta ("key", value) VALUES (?, ?) ON CONFLICT ("key") DO UPDATE SET value = '
                "CAST(CAST(split_part(meta.value, '.', 1) AS BIGINT) + 1 AS VARCHAR) || '.' || ?"),
                [key, f"1.{token}", token])
        if not keys:
            return {}
        rows = conn.execute(self._sql('SELECT "key", value FROM meta WHERE "key" IN (?, ?)'),
                            [DATA_VERSION, FEEDBACK_VERSION]).fetchall()
        return _versions(rows)

    @property
    def versions_mirror(self) -> Path | None:
        """``<database file>.versions`` for a DuckDB file store, else None."""
        if self.dialect != "duckdb" or self._memory_conn is not None:
            return None
        return Path(self._path).with_name(Path(self._path).name + ".versions")

    def _write_versions_mirror(self, versions: dict[str, str]) -> None:
        mirror = self.versions_mirror
        if mirror is None:
            return
        tmp = mirror.with_name(f"{mirror.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(versions))
        os.replace(tmp, mirror)  # atomic: a reader sees the old or the new counters, never half

    def versions(self, mirror: bool = True) -> dict[str, str]:
        """``{"data": ..., "feedback": ...}``: the versions (``"<counter>.<random>"``; "0" before any write).

        With ``mirror`` a DuckDB file store answers from its mirror file (no database open), written
        from the store when missing.
        """
        path = self.versions_mirror if mirror else None
        if path is not None:
            try:
                return json.loads(path.read_text())
            except (FileNotFoundError, ValueError):  # first reader, or a store older than the mirror
                pass
        frame = self.query('SELECT "key", value FROM meta WHERE "key" IN (?, ?)', [DATA_VERSION, FEEDBACK_VERSION])
        versions = _versions(frame.itertuples(index=False, name=None))
        if path is not None:
            self._write_versions_mirror(versions)
        return versions

    # -- schema --------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create missing tables, add columns newer than an existing table, and the unique keys."""
        with self.transaction() as conn:
            for table, columns in TABLES.items():
                conn.execute(_ddl(self.dialect, table, columns))
        existing = self.query('SELECT table_name, column_name FROM information_schema.columns '
                              'WHERE table_schema = current_schema()')
        have = set(zip(existing["table_name"].astype(str), existing["column_name"].astype(str)))
        missing = [(t, c) for t, columns in TABLES.items() for c in columns if (t, c.name) not in have]
        if missing:
            types = _SQL_TYPES[self.dialect]
            with self.transaction() as conn:
                for table, column in missing:  # nullable by construction: old rows have no value
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column.name}" {types[column.type]}')
        for table, keys in UNIQUE_KEYS.items():
            self._unique_index(table, keys)

    def _unique_index(self, table: str, keys: tuple[str, ...]) -> None:
        name = f"{table}_unique_idx"
        create = f'CREATE UNIQUE INDEX IF NOT EXISTS {name} ON "{table}" ({", ".join(keys)})'
        try:
            with self.transaction() as conn:
                conn.execute(create)
            return
        except Exception:  # noqa: BLE001 - rows stored before the key existed repeat it: keep the newest
            pass
        primary = next(c.name for c in TABLES[table] if c.primary_key)
        with self.transaction() as conn:
            conn.execute(f'DELETE FROM "{table}" WHERE "{primary}" NOT IN (SELECT MAX("{primary}") FROM "{table}" '
                         f'GROUP BY {", ".join(keys)})')
        with self.transaction() as conn:  # DuckDB indexes see a transaction's deletes only once committed
            conn.execute(create)

    # -- reads ---------------------------------------------------------------------
    def query(self, sql: str, params: tuple | list = ()) -> pd.DataFrame:
        """Run a read query (``?`` placeholders) and return a frame."""
        with self._connect() as conn:
            if self.dialect == "duckdb":
                return conn.execute(sql, list(params)).df()
            with conn.cursor() as cur:
                cur.execute(self._sql(sql), list(params))
                cols = [d.name for d in cur.description] if cur.description else []
                return pd.DataFrame(cur.fetchall(), columns=cols)

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table (typed as the schema says)."""
        return self.query(_select(table, columns or column_names(table)))

    def read_compact(self, table: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS) -> pd.DataFrame:
        """The whole table with its text columns as categoricals (int codes and the distinct values).

        A large log (the interactions) repeats a few ids and names millions of times: read in batches
        of ``batch_rows`` (Arrow batches on DuckDB, a server-side cursor on PostgreSQL), each batch's
        text dictionary-encoded at once, it takes a fraction of the memory of Python strings.
        """
        names = columns or column_names(table)
        with self._connect() as conn:
            batches = [_encoded(batch) for batch in self._batches(conn, table, names, batch_rows)]
        if not batches:
            return self.read(table, names)
        frame = pd.DataFrame({name: (pd.api.types.union_categoricals([b[name] for b in batches])
                                     if isinstance(batches[0][name].dtype, pd.CategoricalDtype)
                                     else pd.concat([b[name] for b in batches], ignore_index=True))
                              for name in names})
        return frame

    def export_parquet(self, table: str, path, batch_rows: int = BATCH_ROWS) -> Path:
        """Write the whole table to the Parquet file ``path`` batch by batch (never all in memory)."""
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = column_names(table)
        with self._connect() as conn:
            writer = None
            try:
                for batch in self._batches(conn, table, names, batch_rows):
                    writer = writer or pq.ParquetWriter(path, batch.schema, compression="zstd")
                    writer.write_batch(batch)
            finally:
                if writer is not None:
                    writer.close()
        if writer is None:  # an empty table: its schema alone
            pq.write_table(pa.Table.from_pandas(conform(table, pd.DataFrame(columns=names)), preserve_index=False),
                           path)
        return path

    def _batches(self, conn, table: str, names: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Arrow batches of the columns ``names`` of ``table``, with the same types in every batch."""
        sql = _select(table, names)
        if self.dialect == "duckdb":
            for batch in conn.sql(sql).to_arrow_reader(batch_rows):
                yield batch
            return
        with conn.cursor(name="read_compact") as cur:  # server-side: rows arrive batch by batch
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                frame = conform(table, pd.DataFrame(rows, columns=names))[names]
                yield pa.RecordBatch.from_pandas(frame, preserve_index=False)

    def count(self, table: str) -> int:
        return int(self.query(f'SELECT COUNT(*) AS n FROM "{table}"')["n"].iloc[0])

    def counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in TABLES}

    # -- writes --------------------------------------------------------------------
    def _insert(self, conn, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        names = ", ".join(f'"{c}"' for c in frame.columns)
        if self.dialect == "duckdb":
            conn.register("_incoming", pa.Table.from_pandas(frame, preserve_index=False))  # arrow scans fastest
            try:
                conn.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM _incoming')
            finally:
                with contextlib.suppress(Exception):  # fails inside an aborted transaction; the error above matters
                    conn.unregister("_incoming")
            return
        with conn.cursor() as cur:
            with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in frame.itertuples(index=False, name=None):
                    copy.write_row([None if (v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)) else v
                                    for v in row])

    def replace(self, frames: dict[str, pd.DataFrame]) -> None:
        """Replace whole tables atomically: all of them, or (on any error) none (bumps their versions)."""
        conformed = {t: conform(t, f) for t, f in frames.items()}
        try:
            with self.transaction(bump=tuple(VERSIONED[t] for t in frames if t in VERSIONED)) as conn:
                for table, frame in conformed.items():
                    conn.execute(f'DELETE FROM "{table}"')
                    self._insert(conn, table, frame)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"load of {', '.join(frames)} failed and was rolled back: {exc}") from exc

    def append(self, table: str, frame: pd.DataFrame) -> None:
        """Append rows atomically (bumps the table's version)."""
        frame = conform(table, frame)
        try:
            with self.transaction(bump=(VERSIONED[table],) if table in VERSIONED else ()) as conn:
                self._insert(conn, table, frame)
        except Exception as exc:
            raise StoreError(f"append to {table} failed and was rolled back: {exc}") from exc

    def execute(self, sql: str, params: tuple | list = (), bump: tuple[str, ...] = ()) -> None:
        """Run one write statement in its own transaction (``bump``: version counters it changes)."""
        with self.transaction(bump=bump) as conn:
            conn.execute(self._sql(sql), list(params))

    def next_id(self, table: str, column: str) -> int:
        return int(self.query(f'SELECT COALESCE(MAX("{column}"), 0) + 1 AS n FROM "{table}"')["n"].iloc[0])

    # -- key/value meta (shared pointers such as the serving bundle version) -------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        frame = self.query('SELECT value FROM meta WHERE "key" = ?', [key])
        return default if frame.empty else frame["value"].iloc[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(self._sql('DELETE FROM meta WHERE "key" = ?'), [key])
            conn.execute(self._sql('INSERT INTO meta ("key", value) VALUES (?, ?)'), [key, value])


def _select(table: str, names: list[str]) -> str:
    columns = ", ".join(f'"{c}"' for c in names)
    return f'SELECT {columns} FROM "{table}"'


def _encoded(batch: pa.RecordBatch) -> pd.DataFrame:
    """An Arrow batch as a frame, its text columns dictionary-encoded (categoricals)."""
    columns = [pc.dictionary_encode(column) if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
               else column for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pandas()


def _versions(rows) -> dict[str, str]:
    values = {str(k): str(v) for k, v in rows}
    return {"data": values.get(DATA_VERSION, "0"), "feedback": values.get(FEEDBACK_VERSION, "0")}
