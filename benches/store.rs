//! Journal append throughput on SQLite and PostgreSQL, beside a raw `rusqlite`
//! baseline writing the same rows, and the time to build a day's report.
//!
//! Every journal variant writes batches of 100 events of real calls (12 event
//! kinds) into the same table with the same indexes, one commit per batch,
//! SQLite in WAL mode with `synchronous=FULL`:
//! - `fsync_4k`: the disk's floor, measured in the same directory: one 4 KiB
//!   write plus `fdatasync` per iteration (a WAL commit needs at least one).
//! - `sqlite_store_append_100`: `callcore_store::SqliteStore` through the async
//!   `EventJournal` trait (encodes each event, hands the batch to the writer
//!   thread, waits for the commit).
//! - `rusqlite_baseline_100`: rusqlite directly writing the same rows (compact
//!   bodies encoded beforehand, outside the measurement), one prepared
//!   statement, one transaction per batch: the most any wrapper could reach.
//! - `rusqlite_json_rows_100`: the same, with the JSON payloads the journal
//!   stored before schema version 2 (what the compact encoding saves).
//! - `sqlx_sqlite_multirow_100` / `sqlx_sqlite_per_row_100`: what sqlx 0.8 does
//!   with the same rows (one 100-row INSERT, or 100 INSERTs in a transaction),
//!   the measurement behind choosing rusqlite for SQLite.
//! - `postgres_store_append_100`: `callcore_store::PgStore` (one UNNEST insert
//!   per batch, JSONB payloads), when `DATABASE_URL` is set.
//!
//! And a day's report for a center of 500 agents and 50,000 interactions
//! (600,000 journaled events): `day_report_from_sqlite` reads the day's
//! journal from SQLite (the 500,000 events of the kinds the metrics engine
//! reads) and replays it into the queue, agent and volume reports;
//! `day_report_replay_only` is the replay alone, from memory.
//!
//! `cargo bench --bench store`

use callcore::{Event, EventJournal, TenantId, Timestamp};
use callcore_analytics::report::{IntervalLength, ReportKind};
use callcore_analytics::{MetricsConfig, MetricsEngine};
use callcore_store::schema::{Dialect, MIGRATIONS};
use callcore_store::{PgStore, SqliteStore, StoreExt, event_codec, synthetic};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BATCH: usize = 100;

fn batch() -> Vec<Event> {
    let tenant = TenantId::default();
    let mut events = Vec::with_capacity(BATCH + 12);
    let mut call = 0u64;
    while events.len() < BATCH {
        let at = Timestamp::from_secs(1_700_000_000 + i64::try_from(call).unwrap_or(0) * 30);
        events.extend(synthetic::answered_call(
            &tenant,
            events.len() as u64 + 1,
            &format!("call-{call}"),
            &format!("agent-{}", call % 50),
            "support",
            at,
            Duration::from_secs(8),
            Duration::from_secs(180),
            Duration::from_secs(15),
        ));
        call += 1;
    }
    events.truncate(BATCH);
    events
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callcore-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The rows exactly as the store writes them: tenant, seq, time,
/// interaction, agent, kind, and the body (compact encoding or JSON).
type Row<B> = (
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    &'static str,
    B,
);

fn rows<B>(events: &[Event], body: impl Fn(&Event) -> B) -> Vec<Row<B>> {
    events
        .iter()
        .map(|e| {
            (
                e.tenant.as_str().to_owned(),
                i64::try_from(e.seq).unwrap_or(0),
                e.at.as_millis(),
                e.interaction().map(|i| i.as_str().to_owned()),
                e.agent().map(|a| a.as_str().to_owned()),
                e.kind.name(),
                body(e),
            )
        })
        .collect()
}

fn compact(e: &Event) -> Vec<u8> {
    let mut body = Vec::new();
    event_codec::encode(&e.kind, &mut body).expect("encodable");
    body
}

fn json(e: &Event) -> String {
    serde_json::to_string(&e.kind).expect("serializable")
}

const INSERT_COMPACT: &str =
    "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7)";
const INSERT_JSON: &str =
    "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// One transaction of `rows` through rusqlite, as lean as it gets.
fn raw_batch<B: rusqlite::ToSql>(conn: &mut rusqlite::Connection, sql: &str, rows: &[Row<B>]) {
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx.prepare_cached(sql).expect("prepare");
        for r in rows {
            insert
                .execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4, r.5, r.6])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// One 4 KiB write and `fdatasync`, in `dir`: the cost of the one sync a
/// WAL commit with `synchronous=FULL` cannot avoid.
fn fsync_probe(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    dir: &Path,
) {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let page = [0x5a_u8; 4096];
    c.throughput(Throughput::Elements(1));
    c.bench_function("fsync_4k", |b| {
        b.iter(|| {
            file.write_all(&page).expect("write");
            file.sync_data().expect("fdatasync");
        });
    });
    c.throughput(Throughput::Elements(BATCH as u64));
    drop(file);
    let _ = std::fs::remove_file(path);
}

fn rusqlite_baseline(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    for m in MIGRATIONS {
        for s in m.statements(Dialect::Sqlite) {
            conn.execute(&s, []).expect("schema");
        }
    }
    conn
}

fn journal(c: &mut Criterion) {
    let events = batch();
    let json_rows = rows(&events, json);
    let rows = rows(&events, compact);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(6));

    let dir = fresh_dir("sqlite");
    fsync_probe(&mut group, &dir);
    let store = SqliteStore::open(dir.join("journal.db")).expect("open store");
    group.bench_function("sqlite_store_append_100", |b| {
        b.iter(|| rt.block_on(store.append(&events)).expect("append"));
    });
    drop(store);

    let dir_raw = fresh_dir("rusqlite");
    let mut conn = rusqlite_baseline(&dir_raw.join("journal.db"));
    group.bench_function("rusqlite_baseline_100", |b| {
        b.iter(|| raw_batch(&mut conn, INSERT_COMPACT, &rows));
    });
    group.bench_function("rusqlite_json_rows_100", |b| {
        b.iter(|| raw_batch(&mut conn, INSERT_JSON, &json_rows));
    });
    drop(conn);

    let dir_sqlx = fresh_dir("sqlx");
    let pool = rt.block_on(async {
        // Same schema as the others, created by rusqlite.
        drop(rusqlite_baseline(&dir_sqlx.join("journal.db")));
        let options = SqliteConnectOptions::new()
            .filename(dir_sqlx.join("journal.db"))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("sqlx sqlite")
    });
    let multirow_sql = {
        let mut sql = String::from(
            "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload, body) VALUES ",
        );
        for i in 0..BATCH {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, '', ?)");
        }
        sql
    };
    group.bench_function("sqlx_sqlite_multirow_100", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut q = sqlx::query(&multirow_sql);
                for r in &rows {
                    q = q
                        .bind(&r.0)
                        .bind(r.1)
                        .bind(r.2)
                        .bind(&r.3)
                        .bind(&r.4)
                        .bind(r.5)
                        .bind(&r.6);
                }
                q.execute(&pool).await.expect("insert");
            });
        });
    });
    group.bench_function("sqlx_sqlite_per_row_100", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tx = pool.begin().await.expect("tx");
                for r in &rows {
                    sqlx::query(
                        "INSERT INTO events (tenant, seq, at_ms, interaction, agent, kind, payload, body)
                         VALUES (?, ?, ?, ?, ?, ?, '', ?)",
                    )
                    .bind(&r.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(&r.3)
                    .bind(&r.4)
                    .bind(r.5)
                    .bind(&r.6)
                    .execute(&mut *tx)
                    .await
                    .expect("insert");
                }
                tx.commit().await.expect("commit");
            });
        });
    });
    rt.block_on(pool.close());

    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("cc_bench_{}", std::process::id());
            let pg = rt
                .block_on(PgStore::connect_in_schema(&url, &schema))
                .expect("postgres");
            group.bench_function("postgres_store_append_100", |b| {
                b.iter(|| rt.block_on(pg.append(&events)).expect("append"));
            });
            rt.block_on(pg.drop_schema()).expect("drop schema");
        }
        _ => eprintln!("SKIPPED: DATABASE_URL is unset; no PostgreSQL figure"),
    }
    group.finish();
    for d in [dir, dir_raw, dir_sqlx] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// 50,000 answered calls over one day: 500 agents, each taking a call every
/// 5 minutes from 08:00 (8 s wait, 3 min talk, 15 s wrap-up), in time order.
fn day_of_calls() -> Vec<Event> {
    let tenant = TenantId::default();
    let day = 1_700_006_400; // a UTC midnight
    let mut events = Vec::with_capacity(600_000);
    for slot in 0..100i64 {
        for agent in 0..500i64 {
            let at = Timestamp::from_secs(day + 8 * 3600 + slot * 300 + agent % 60);
            events.extend(synthetic::answered_call(
                &tenant,
                0,
                &format!("call-{slot}-{agent}"),
                &format!("agent-{agent}"),
                if agent % 5 == 0 { "sales" } else { "support" },
                at,
                Duration::from_secs(8),
                Duration::from_secs(180),
                Duration::from_secs(15),
            ));
        }
    }
    events.sort_by_key(|e| e.at);
    for (seq, e) in events.iter_mut().enumerate() {
        e.seq = seq as u64 + 1;
    }
    events
}

fn build_reports(events: &[Event], from: Timestamp, to: Timestamp) -> usize {
    let mut engine = MetricsEngine::for_reports(MetricsConfig::default()).expect("config");
    engine.apply_all(events);
    engine.advance(to);
    [
        ReportKind::QueueService,
        ReportKind::AgentPerformance,
        ReportKind::CallVolume,
    ]
    .into_iter()
    .map(|kind| {
        engine
            .report(kind, IntervalLength::QuarterHour, from, to)
            .rows
            .len()
    })
    .sum()
}

fn day_report(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let events = day_of_calls();
    let from = Timestamp::from_secs(1_700_006_400);
    let to = Timestamp::from_secs(1_700_006_400 + 86_400);
    let dir = fresh_dir("report");
    let store = SqliteStore::open(dir.join("day.db")).expect("open store");
    rt.block_on(async {
        for chunk in events.chunks(5_000) {
            store.append(chunk).await.expect("append");
        }
    });
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("day_report_replay_only", |b| {
        b.iter(|| build_reports(&events, from, to));
    });
    group.bench_function("day_report_from_sqlite", |b| {
        b.iter(|| {
            let journal = rt
                .block_on(store.events_of_kinds(
                    &TenantId::default(),
                    from,
                    to,
                    MetricsEngine::EVENT_KINDS,
                ))
                .expect("read");
            assert_eq!(journal.len(), events.len() / 12 * 10);
            build_reports(&journal, from, to)
        });
    });
    group.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, journal, day_report);
criterion_main!(benches);
