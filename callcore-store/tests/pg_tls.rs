//! PostgreSQL over TLS: a store that requires TLS gets an encrypted session,
//! and a full check accepts the server's certificate for its name and
//! refuses it for another.
//!
//! Reads `DATABASE_URL` (skipped with a notice when it is unset, failing
//! instead when `CALLCORE_REQUIRE_PEERS=1`) and needs a server with `ssl = on`
//! (skipped with a notice otherwise). The certificate checks also need the
//! server's certificate file to be readable here (a server on this machine).
#![allow(clippy::unwrap_used)]

mod common;

use callcore_store::{PgOptions, PgStore, PgTls};
use common::*;
use sqlx::Row;

async fn encrypted(store: &PgStore) -> bool {
    sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get::<bool, _>(0)
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_over_tls_is_encrypted_and_checks_the_servers_certificate() {
    let Some(url) = database_url() else { return };
    let plain = PgStore::connect_with(&url, &PgOptions::with_tls(PgTls::Disable))
        .await
        .unwrap();
    assert!(!encrypted(&plain).await, "TLS disabled");
    let (ssl, cert): (String, String) =
        sqlx::query_as("SELECT current_setting('ssl'), current_setting('ssl_cert_file')")
            .fetch_one(plain.pool())
            .await
            .unwrap();
    if ssl != "on" {
        eprintln!("NOTICE: the PostgreSQL server has ssl = off; TLS test skipped");
        return;
    }

    let schema = unique("cc_tls");
    let tls = PgStore::connect_with(
        &url,
        &PgOptions::with_tls(PgTls::Require).in_schema(&schema),
    )
    .await
    .unwrap();
    assert!(encrypted(&tls).await, "the session is encrypted");

    // The certificate is checked against the CA file and its name (the
    // server's snakeoil certificate is issued for `localhost`).
    let by_name = url.replace("@127.0.0.1", "@localhost");
    let verify = |ca: &str| {
        PgOptions::with_tls(PgTls::VerifyFull {
            root_cert: Some(ca.into()),
        })
    };
    if std::fs::read(&cert).is_ok() && by_name.contains("@localhost") {
        // The server's own (self-signed) certificate as the CA: trusted.
        let trusted = PgStore::connect_with(&by_name, &verify(&cert))
            .await
            .unwrap();
        assert!(encrypted(&trusted).await);
        // Trusted CA, wrong name: refused.
        let wrong_name = PgStore::connect_with(&url, &verify(&cert)).await;
        assert!(
            wrong_name.is_err(),
            "a certificate for another name is refused"
        );
    } else {
        eprintln!(
            "NOTICE: {cert} is not readable here or DATABASE_URL is not on 127.0.0.1; \
             certificate checks not tested"
        );
    }
    tls.drop_schema().await.unwrap();
}
