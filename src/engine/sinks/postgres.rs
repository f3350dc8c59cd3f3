//! `postgres`: rows in a table of the customer's PostgreSQL, one `INSERT … ON CONFLICT (msg_id) DO NOTHING`
//! per batch inside one transaction, so a batch sent twice adds no row. The table is created when missing:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS <tableName> (
//!     msg_id      text PRIMARY KEY,       -- msg_…, what a reader deduplicates on
//!     event_type  text NOT NULL,
//!     event_id    text,                   -- the publisher's eventId, if any
//!     payload     jsonb NOT NULL,
//!     channels    text[] NOT NULL,
//!     app_id      text NOT NULL,
//!     position    bigint NOT NULL,        -- place in the application's log: ORDER BY position
//!     created_at  timestamptz NOT NULL,   -- when the message was created
//!     inserted_at timestamptz NOT NULL DEFAULT now()
//! )
//! ```
//!
//! This is the customer's database, not hookd's store: its SQL lives here rather than in `store/`.

use std::str::FromStr;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::{deadline, Batch, ConfigError, Fields, Sink, SinkError, CONNECT_TIMEOUT, SEND_TIMEOUT};

/// `postgres {url, password?, tableName, sslRootCert?}`.
#[derive(Clone)]
pub struct PostgresConfig {
    pub url: String,
    pub table_name: String,
    pub ssl_root_cert: Option<String>,
    /// `"schema"."table"`, each part quoted.
    quoted_table: String,
    pg: tokio_postgres::Config,
    /// `sslmode=verify-ca|verify-full` (which tokio-postgres does not parse): TLS required.
    verify: bool,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &super::mask_url(&self.url, false))
            .field("table", &self.quoted_table)
            .finish()
    }
}

impl PostgresConfig {
    pub(super) fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let url = f.required("url")?;
        let parsed = super::parse_url("url", &url, &["postgres", "postgresql"])?;
        // tokio-postgres knows disable|prefer|require; verify-ca/verify-full mean "require, and verify", which
        // the TLS connector does anyway.
        let verify = parsed.query_pairs().any(|(k, v)| k == "sslmode" && (v == "verify-ca" || v == "verify-full"));
        let mut cleaned = parsed.clone();
        if verify {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "sslmode" { "require".into() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            cleaned.query_pairs_mut().clear().extend_pairs(pairs);
        }
        let mut pg = tokio_postgres::Config::from_str(cleaned.as_str())
            .map_err(|e| ConfigError::at(&["url"], format!("url is not a PostgreSQL connection URL: {e}")))?;
        if pg.get_hosts().iter().any(|h| !matches!(h, Host::Tcp(_))) {
            return Err(ConfigError::at(&["url"], "url must name a TCP host"));
        }
        if pg.get_dbname().is_none() {
            pg.dbname(pg.get_user().unwrap_or("postgres").to_string());
        }
        // Kept only inside the connection settings: never shown back.
        if let Some(pw) = f.optional("password")? {
            pg.password(pw.as_bytes());
        }
        pg.connect_timeout(CONNECT_TIMEOUT);
        if pg.get_application_name().is_none() {
            pg.application_name("hookd destination");
        }
        let table_name = f.required("tableName")?;
        let parts: Vec<&str> = table_name.split('.').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.is_empty() || p.contains(['"', '\0']) || p.len() > 63) {
            return Err(ConfigError::at(
                &["tableName"],
                "tableName must be `table` or `schema.table`, each part 1 to 63 bytes without quote characters",
            ));
        }
        let quoted_table = parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".");
        let ssl_root_cert = f.optional("sslRootCert")?;
        if let Some(pem) = &ssl_root_cert {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(ConfigError::at(&["sslRootCert"], "sslRootCert must be a PEM-encoded certificate"));
            }
        }
        Ok(PostgresConfig { url, table_name, ssl_root_cert, quoted_table, pg, verify })
    }

    pub(super) fn redacted(&self) -> Value {
        let mut out = serde_json::json!({"url": super::mask_url(&self.url, false), "tableName": self.table_name});
        if let Some(cert) = &self.ssl_root_cert {
            out["sslRootCert"] = cert.clone().into();
        }
        out
    }

    pub(super) fn hosts(&self) -> Vec<String> {
        self.pg
            .get_hosts()
            .iter()
            .filter_map(|h| match h {
                Host::Tcp(name) => Some(name.trim_start_matches('[').trim_end_matches(']').to_string()),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect()
    }

    fn host(&self) -> String {
        self.hosts().join(",")
    }

    fn wants_tls(&self) -> bool {
        self.verify || self.ssl_root_cert.is_some() || self.pg.get_ssl_mode() == SslMode::Require
    }
}

pub(super) struct PostgresSink {
    cfg: PostgresConfig,
    /// The open connection, its table known to exist; `None` after it broke.
    client: Mutex<Option<Client>>,
}

impl PostgresSink {
    pub(super) async fn connect(cfg: &PostgresConfig) -> Result<Self, SinkError> {
        let client = open(cfg).await?;
        Ok(PostgresSink { cfg: cfg.clone(), client: Mutex::new(Some(client)) })
    }
}

async fn open(cfg: &PostgresConfig) -> Result<Client, SinkError> {
    let what = || format!("connecting to PostgreSQL at {}", cfg.host());
    deadline(CONNECT_TIMEOUT, what, async {
        let fail =
            |e: tokio_postgres::Error| SinkError::new(format!("PostgreSQL at {}: {}", cfg.host(), pg_reason(&e)));
        let client = if cfg.wants_tls() {
            let tls = tls::connector(cfg)?;
            let (client, conn) = cfg.pg.connect(tls).await.map_err(fail)?;
            tokio::spawn(conn);
            client
        } else {
            let (client, conn) = cfg.pg.connect(tokio_postgres::NoTls).await.map_err(fail)?;
            tokio::spawn(conn);
            client
        };
        let t = &cfg.quoted_table;
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {t} (msg_id text PRIMARY KEY, event_type text NOT NULL, event_id text, \
             payload jsonb NOT NULL, channels text[] NOT NULL, app_id text NOT NULL, position bigint NOT NULL, \
             created_at timestamptz NOT NULL, inserted_at timestamptz NOT NULL DEFAULT now())"
        );
        client.batch_execute(&ddl).await.map_err(|e| {
            SinkError::new(format!("PostgreSQL at {}: creating table {t}: {}", cfg.host(), pg_reason(&e)))
        })?;
        Ok(client)
    })
    .await
}

/// The server's own message when it sent one (`relation … does not exist`), else the client's.
fn pg_reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s = format!("{s}: {inner}");
                src = inner.source();
            }
            s
        }
    }
}

/// Rows per statement: 8 parameters each, well under PostgreSQL's 65535.
const ROWS_PER_INSERT: usize = 1000;

#[async_trait]
impl Sink for PostgresSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            *slot = Some(open(&self.cfg).await?);
        }
        let client = slot.as_mut().expect("opened above");
        let host = self.cfg.host();
        let what = || format!("inserting {} rows into PostgreSQL at {host}", batch.events.len());
        let fail = |e: tokio_postgres::Error| {
            SinkError::new(format!(
                "PostgreSQL at {}: inserting into {}: {}",
                self.cfg.host(),
                self.cfg.quoted_table,
                pg_reason(&e)
            ))
        };
        let result = deadline(SEND_TIMEOUT, what, async {
            let tx = client.transaction().await.map_err(fail)?;
            for chunk in batch.events.chunks(ROWS_PER_INSERT) {
                let mut sql = format!(
                    "INSERT INTO {} (msg_id, event_type, event_id, payload, channels, app_id, position, created_at) VALUES ",
                    self.cfg.quoted_table
                );
                let payloads: Vec<&str> = chunk.iter().map(|e| e.payload.get()).collect();
                let created: Vec<f64> = chunk.iter().map(|e| e.timestamp as f64 / 1000.0).collect();
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 8);
                for (i, e) in chunk.iter().enumerate() {
                    let n = i * 8;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}::text::jsonb, ${}, ${}, ${}, to_timestamp(${}))",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7,
                        n + 8
                    ));
                    params.extend_from_slice(&[
                        &e.msg_id,
                        &e.event_type,
                        &e.event_id,
                        &payloads[i],
                        &e.channels,
                        &batch.app_id,
                        &e.position,
                        &created[i],
                    ]);
                }
                sql.push_str(" ON CONFLICT (msg_id) DO NOTHING");
                tx.execute(sql.as_str(), &params).await.map_err(fail)?;
            }
            tx.commit().await.map_err(fail)
        })
        .await;
        // A broken connection, or one left mid-transaction by a timeout, is opened afresh next time; a refused
        // insert (a table of another shape) keeps it.
        let timed_out = result.as_ref().is_err_and(|e| e.reason.contains("timed out"));
        if timed_out || (result.is_err() && slot.as_ref().is_none_or(Client::is_closed)) {
            *slot = None;
        }
        result
    }
}

/// TLS for the customer's PostgreSQL: rustls (ring), trusting `sslRootCert` when given, else the public roots.
/// The certificate is always verified (`sslmode=require` included), unlike libpq's `require`.
mod tls {
    use rustls_pki_types::pem::PemObject;

    use super::{PostgresConfig, SinkError};

    pub(super) fn connector(cfg: &PostgresConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect, SinkError> {
        let mut roots = rustls::RootCertStore::empty();
        match &cfg.ssl_root_cert {
            Some(pem) => {
                for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| SinkError::new(format!("sslRootCert: {e}")))?;
                    roots.add(cert).map_err(|e| SinkError::new(format!("sslRootCert: {e}")))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SinkError::new(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}
