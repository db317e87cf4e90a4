//! Customer profiles through the web API: read with the history, edited
//! (fields checked and named), found by an address, merged and the merge
//! undone (`customers_unmerged` journaled) — each scoped by tenant and role.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

mod support;

use axum::http::{Method, StatusCode};
use callcore::{
    Channel, CustomerProfile, Direction, EventKind, IdentityKind, Interaction, InteractionRecord,
    Timestamp,
};
use serde_json::json;
use support::{acme, login, request, rig};

fn profile(id: &str, kind: IdentityKind, value: &str) -> CustomerProfile {
    let mut p = CustomerProfile {
        id: id.into(),
        tenant: acme(),
        ..CustomerProfile::default()
    };
    p.add_identity(kind, value);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_read_edited_found_merged_and_unmerged() {
    let rig = rig().await;
    let stores = rig.center.stores().clone();
    // the caller of the live call below is known by their number
    let mut ann = profile("c-ann", IdentityKind::Phone, "+4930123456");
    ann.add_identity(IdentityKind::Email, "ann@example.org");
    ann.name = Some(callcore::Pii::new("Ann".into()));
    let texter = profile("c-texter", IdentityKind::Phone, "+4915550001");
    stores.customers.save(&ann).await.unwrap();
    stores.customers.save(&texter).await.unwrap();
    let mut sms = InteractionRecord::new(&Interaction::new(
        "sms-1".into(),
        acme(),
        Channel::Sms,
        Direction::Inbound,
        "+4915550001",
        "12345",
        Timestamp::from_millis(1_000),
    ));
    sms.customer = Some("c-texter".into());
    stores.interactions.save(&sms).await.unwrap();

    let sup = login(&rig.app, "super").await;
    let agent = login(&rig.app, "1001").await;
    let stranger = login(&rig.app, "bsuper").await;
    let get = |auth, id: &str| {
        let (app, path) = (rig.app.clone(), format!("/api/v1/customers/{id}"));
        async move { request(&app, Method::GET, &path, auth, None).await }
    };

    // read: the supervisor sees it; another tenant and an agent not on a call with her do not
    let r = get(&sup, "c-texter").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["customer"]["identities"],
        json!(["phone:+4915550001"])
    );
    assert_eq!(r.body["history"][0]["id"], "sms-1");
    assert_eq!(r.body["history"][0]["channel"], "sms");
    assert_eq!(
        get(&stranger, "c-texter").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&agent, "c-ann").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&sup, "nobody").await.status, StatusCode::NOT_FOUND);

    // on a call with Ann, the agent reads and edits her profile
    let (_call, _caller) = support::connected_call(&rig, "1001").await;
    let r = get(&agent, "c-ann").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["customer"]["name"], "Ann");
    let patch = |auth, body| {
        let app = rig.app.clone();
        async move {
            request(
                &app,
                Method::PATCH,
                "/api/v1/customers/c-ann",
                auth,
                Some(body),
            )
            .await
        }
    };
    let r = patch(
        &agent,
        json!({"name": "Ann Lee", "notes": "Prefers e-mail.\nFibre since 2021.", "tags": ["fibre", "vip-list", "fibre"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["customer"]["name"], "Ann Lee");
    assert_eq!(
        r.body["customer"]["notes"],
        "Prefers e-mail.\nFibre since 2021."
    );
    assert_eq!(r.body["customer"]["tags"], json!(["fibre", "vip-list"]));
    let saved = stores
        .customers
        .get(&acme(), &"c-ann".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.name.unwrap().expose(), "Ann Lee");
    // bad fields are refused by name; nothing changes
    for (body, field) in [
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "Ann\u{7}"}), "name"),
        (json!({"notes": "a\u{0}b"}), "notes"),
        (json!({"tags": ["ok", "not ok"]}), "tags[1]"),
        (json!({"tags": [""]}), "tags[0]"),
        (json!({"vip": true}), "vip"),
    ] {
        let r = patch(&agent, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.text);
    }
    let r = request(
        &rig.app,
        Method::PATCH,
        "/api/v1/customers/c-ann",
        &stranger,
        Some(json!({"name": "Eve"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = get(&sup, "c-ann").await;
    assert_eq!(r.body["customer"]["name"], "Ann Lee");
    // clearing the notes
    let r = patch(&sup, json!({"notes": ""})).await;
    assert_eq!(r.body["customer"]["notes"], json!(null), "{}", r.text);

    // found by an address (a `+` sent unencoded arrives as a space)
    for query in ["phone=%2B4915550001", "phone=+4915550001"] {
        let r = request(
            &rig.app,
            Method::GET,
            &format!("/api/v1/customers?{query}"),
            &sup,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
        assert_eq!(r.body["customers"][0]["id"], "c-texter", "{query}");
    }
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/customers?email=ANN@example.org",
        &sup,
        None,
    )
    .await;
    assert_eq!(r.body["customers"][0]["id"], "c-ann", "{}", r.text);
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/customers?email=bob@example.org",
        &sup,
        None,
    )
    .await;
    assert_eq!(r.body["customers"], json!([]));
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/customers?phone=1&email=a@b.c",
        &sup,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = request(&rig.app, Method::GET, "/api/v1/customers?fax=1", &sup, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["field"], "fax");
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/customers?phone=%2B4915550001",
        &stranger,
        None,
    )
    .await;
    assert_eq!(
        r.body["customers"],
        json!([]),
        "another tenant finds nothing"
    );
    let r = request(
        &rig.app,
        Method::GET,
        "/api/v1/customers?phone=%2B4915550001",
        &agent,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // merged by the supervisor, then undone
    let r = request(
        &rig.app,
        Method::POST,
        "/api/v1/customers/c-ann/merge",
        &sup,
        Some(json!({"absorb": "c-texter"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["identities"].as_array().unwrap().len(), 3);
    let r = get(&sup, "c-ann").await;
    assert_eq!(r.body["history"][0]["id"], "sms-1");
    let unmerge = |auth, body| {
        let app = rig.app.clone();
        async move {
            request(
                &app,
                Method::POST,
                "/api/v1/customers/c-ann/unmerge",
                auth,
                Some(body),
            )
            .await
        }
    };
    assert_eq!(
        unmerge(&agent, json!({"absorbed": "c-texter"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        unmerge(&stranger, json!({"absorbed": "c-texter"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = unmerge(&sup, json!({"absorbed": ""})).await;
    assert_eq!(r.body["error"]["field"], "absorbed", "{}", r.text);
    let mut events = rig.center.subscribe();
    let r = unmerge(&sup, json!({"absorbed": "c-texter"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["restored"]["identities"],
        json!(["phone:+4915550001"])
    );
    assert_eq!(r.body["interactions"], json!(["sms-1"]));
    let kept: Vec<String> = serde_json::from_value(r.body["kept"]["identities"].clone()).unwrap();
    assert_eq!(kept, ["phone:+4930123456", "email:ann@example.org"]);
    // the edit made before the merge stays
    assert_eq!(r.body["kept"]["name"], "Ann Lee");
    let r = get(&sup, "c-texter").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["history"][0]["id"], "sms-1");
    assert_eq!(get(&sup, "c-ann").await.body["history"], json!([]));
    let unmerged = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let e = events.recv().await.unwrap();
            if let EventKind::CustomersUnmerged {
                kept,
                absorbed,
                interactions,
            } = &e.kind
            {
                return (kept.clone(), absorbed.clone(), interactions.clone());
            }
        }
    })
    .await
    .expect("customers_unmerged journaled");
    assert_eq!(unmerged.0.as_str(), "c-ann");
    assert_eq!(unmerged.1.as_str(), "c-texter");
    assert_eq!(unmerged.2, ["sms-1".into()]);
    // done once: again is 404
    let r = unmerge(&sup, json!({"absorbed": "c-texter"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}
