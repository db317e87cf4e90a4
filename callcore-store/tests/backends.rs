//! One store test suite, run against SQLite and PostgreSQL.
//!
//! PostgreSQL cases read `DATABASE_URL`, work in a schema of their own that
//! they drop afterwards, and are skipped with a notice when it is unset (failing
//! instead when `CALLCORE_REQUIRE_PEERS=1`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Runs every case against one backend.
macro_rules! suite {
    ($backend:ident, $open:path, $close:path) => {
        mod $backend {
            use super::*;
            use futures::FutureExt;
            suite!(@cases $open, $close;
                journal_keeps_batches_in_order_per_interaction_and_time,
                interaction_records_round_trip_and_replace,
                customers_have_several_identities_and_merge_with_their_history,
                merging_unknown_or_same_customers_fails_cleanly,
                recordings_are_indexed_per_interaction,
                campaigns_leads_attempts_and_leads_due,
                usage_is_metered_per_tenant,
                no_query_crosses_tenants,
                a_real_call_is_journaled_and_recorded,
                schema_is_at_the_latest_version_after_open,
                unended_interactions_are_found_within_the_window);
        }
    };
    (@cases $open:path, $close:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "current_thread")]
            async fn $case() {
                let Some(h) = $open().await else { return };
                let result = std::panic::AssertUnwindSafe(cases::$case(h.store.clone()))
                    .catch_unwind()
                    .await;
                $close(h).await;
                if let Err(panic) = result {
                    std::panic::resume_unwind(panic);
                }
            }
        )*
    };
}

suite!(sqlite, open_sqlite, close_sqlite);
suite!(postgres, open_pg, close_pg);

mod cases {
    use super::common::*;
    use callcore::{
        Campaign, CampaignId, Channel, CustomerProfile, DialAttempt, DialMode, Direction,
        Disposition, EndReason, EventKind, Identity, IdentityKind, Interaction, InteractionRecord,
        Lead, LeadStatus, Pii, RecordingMeta, Stores,
    };
    use callcore_store::{StoreError, schema};
    use std::sync::Arc;
    use std::time::Duration;

    fn queued(i: &str, q: &str) -> EventKind {
        EventKind::Queued {
            interaction: i.into(),
            queue: q.into(),
            position: 1,
            estimated_wait_secs: None,
        }
    }

    fn ended(i: &str) -> EventKind {
        EventKind::Ended {
            interaction: i.into(),
            reason: EndReason::CustomerHangup,
        }
    }

    fn created(i: &str) -> EventKind {
        EventKind::InteractionCreated {
            interaction: Box::new(Interaction::new(
                i.into(),
                "bank".into(),
                Channel::Voice,
                Direction::Inbound,
                "+4930111",
                "100",
                ts(T0),
            )),
        }
    }

    /// Started and never ended, within 1 h of the tenant's last event: only
    /// `live` (`old` started too long before, `done` ended, `other` is
    /// another tenant's).
    pub async fn unended_interactions_are_found_within_the_window<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        s.append(&[
            ev(1, T0, "bank", created("old")),
            ev(2, T0 + 7_000, "bank", created("done")),
            ev(3, T0 + 7_100, "bank", created("live")),
            ev(4, T0 + 7_100, "other", created("other")),
            ev(5, T0 + 7_200, "bank", ended("done")),
            ev(6, T0 + 7_300, "bank", queued("live", "support")),
        ])
        .await
        .unwrap();
        let window = Duration::from_secs(3_600);
        let found = s.unended(&t, window).await.unwrap();
        assert_eq!(found, vec!["live".into()]);
        let all = s.unended(&t, Duration::from_secs(86_400)).await.unwrap();
        assert_eq!(all, vec!["old".into(), "live".into()], "in journal order");
        assert!(
            s.unended(&tenant("nobody"), window)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn journal_keeps_batches_in_order_per_interaction_and_time<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        let batch1 = vec![
            ev(1, 10, "bank", queued("a", "support")),
            ev(2, 11, "bank", queued("b", "sales")),
            ev(
                3,
                12,
                "bank",
                EventKind::Held {
                    interaction: "a".into(),
                },
            ),
        ];
        let batch2 = vec![
            ev(4, 13, "bank", ended("b")),
            ev(5, 14, "bank", ended("a")),
            ev(
                6,
                20,
                "bank",
                EventKind::QueueRemoved {
                    queue: "sales".into(),
                },
            ),
        ];
        s.append(&batch1).await.unwrap();
        s.append(&[]).await.unwrap();
        s.append(&batch2).await.unwrap();
        let a = callcore::EventJournal::for_interaction(&*s, &t, &"a".into())
            .await
            .unwrap();
        assert_eq!(a.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!(a[1], batch1[2], "events come back exactly as written");
        let window = callcore::EventJournal::between(&*s, &t, ts(11), ts(20))
            .await
            .unwrap();
        assert_eq!(
            window.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![2, 3, 4, 5]
        );
        let ends = s
            .events_of_kinds(&t, ts(0), ts(100), &["ended"])
            .await
            .unwrap();
        assert_eq!(ends.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        // A large batch is one transaction and keeps its order.
        let big: Vec<_> = (0..1000)
            .map(|n| ev(100 + n, 1000, "bank", queued(&format!("x{n}"), "support")))
            .collect();
        s.append(&big).await.unwrap();
        let back = s
            .events_of_kinds(&t, ts(1000), ts(1001), &[])
            .await
            .unwrap();
        assert_eq!(back, big);
    }

    fn record(
        id: &str,
        tenant_name: &str,
        created: i64,
        customer: Option<&str>,
    ) -> InteractionRecord {
        let mut i = Interaction::new(
            id.into(),
            tenant_name.into(),
            Channel::Voice,
            Direction::Inbound,
            "+4930111",
            "100",
            ts(created),
        );
        i.customer = customer.map(Into::into);
        InteractionRecord::new(&i)
    }

    pub async fn interaction_records_round_trip_and_replace<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        let mut r = record("call-1", "bank", 100, Some("cust-1"));
        callcore::InteractionStore::save(&*s, &r).await.unwrap();
        r.apply(&ev(1, 100, "bank", queued("call-1", "support")));
        r.apply(&ev(2, 130, "bank", ended("call-1")));
        callcore::InteractionStore::save(&*s, &r).await.unwrap(); // replaces
        let back = callcore::InteractionStore::get(&*s, &t, &"call-1".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, r);
        assert_eq!(back.wait_ms, 30_000);
        assert_eq!(back.from.expose(), "+4930111");
        let later = record("call-2", "bank", 200, Some("cust-1"));
        let other = record("call-3", "bank", 150, None);
        callcore::InteractionStore::save(&*s, &later).await.unwrap();
        callcore::InteractionStore::save(&*s, &other).await.unwrap();
        let history = s.for_customer(&t, &"cust-1".into()).await.unwrap();
        assert_eq!(
            history.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["call-1", "call-2"]
        );
        let window = callcore::InteractionStore::between(&*s, &t, ts(100), ts(200))
            .await
            .unwrap();
        assert_eq!(
            window.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["call-1", "call-3"]
        );
        assert!(
            callcore::InteractionStore::get(&*s, &t, &"nope".into())
                .await
                .unwrap()
                .is_none()
        );
    }

    fn identity(kind: IdentityKind, value: &str) -> Identity {
        Identity {
            kind,
            value: Pii::new(value.to_owned()),
        }
    }

    fn profile(id: &str, tenant_name: &str, identities: Vec<Identity>) -> CustomerProfile {
        CustomerProfile {
            id: id.into(),
            tenant: tenant_name.into(),
            identities,
            ..CustomerProfile::default()
        }
    }

    pub async fn customers_have_several_identities_and_merge_with_their_history<S: Backend>(
        s: Arc<S>,
    ) {
        let t = tenant("bank");
        let mut phone_profile = profile(
            "c-phone",
            "bank",
            vec![
                identity(IdentityKind::Phone, "+4930111"),
                identity(IdentityKind::Email, "li@example.com"),
            ],
        );
        phone_profile
            .preferences
            .insert("language".into(), "zh".into());
        phone_profile.tags.push("churn_risk".into());
        let mut chat_profile = profile(
            "c-chat",
            "bank",
            vec![
                identity(IdentityKind::ChatId, "visitor-9"),
                identity(IdentityKind::WeChat, "wx-openid-1"),
            ],
        );
        chat_profile
            .preferences
            .insert("language".into(), "en".into());
        chat_profile
            .preferences
            .insert("channel".into(), "chat".into());
        chat_profile.vip = true;
        callcore::CustomerStore::save(&*s, &phone_profile)
            .await
            .unwrap();
        callcore::CustomerStore::save(&*s, &chat_profile)
            .await
            .unwrap();
        for (kind, value, who) in [
            (IdentityKind::Phone, "+4930111", "c-phone"),
            (IdentityKind::Email, "li@example.com", "c-phone"),
            (IdentityKind::ChatId, "visitor-9", "c-chat"),
            (IdentityKind::WeChat, "wx-openid-1", "c-chat"),
        ] {
            let found = s.find_by_identity(&t, kind, value).await.unwrap().unwrap();
            assert_eq!(found.id.as_str(), who, "{kind:?} {value}");
        }
        assert!(
            s.find_by_identity(&t, IdentityKind::Phone, "visitor-9")
                .await
                .unwrap()
                .is_none()
        );
        // Interactions on two channels, one per profile.
        let mut voice = record("v1", "bank", 10, Some("c-phone"));
        voice.channel = Channel::Voice;
        let mut chat = record("ch1", "bank", 20, Some("c-chat"));
        chat.channel = Channel::Chat;
        callcore::InteractionStore::save(&*s, &voice).await.unwrap();
        callcore::InteractionStore::save(&*s, &chat).await.unwrap();

        // through callcore's CustomerStore (what the center and the web API use)
        let itself = callcore::CustomerStore::merge(&*s, &t, &"c-phone".into(), &"c-phone".into())
            .await
            .unwrap_err();
        assert!(
            matches!(itself, callcore::CoreError::InvalidState { .. }),
            "{itself}"
        );
        let merged = callcore::CustomerStore::merge(&*s, &t, &"c-phone".into(), &"c-chat".into())
            .await
            .unwrap();
        assert_eq!(merged.identities.len(), 4);
        assert!(merged.vip);
        assert_eq!(
            merged.preferences["language"], "zh",
            "the kept profile wins"
        );
        assert_eq!(merged.preferences["channel"], "chat");
        assert_eq!(merged.tags, vec!["churn_risk".to_owned()]);
        assert_eq!(
            callcore::CustomerStore::get(&*s, &t, &"c-phone".into())
                .await
                .unwrap(),
            Some(merged.clone())
        );
        assert!(
            callcore::CustomerStore::get(&*s, &t, &"c-chat".into())
                .await
                .unwrap()
                .is_none()
        );
        let found = s
            .find_by_identity(&t, IdentityKind::WeChat, "wx-openid-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id.as_str(), "c-phone");
        let history = s.for_customer(&t, &"c-phone".into()).await.unwrap();
        assert_eq!(
            history
                .iter()
                .map(|r| (r.id.as_str(), r.channel))
                .collect::<Vec<_>>(),
            [("v1", Channel::Voice), ("ch1", Channel::Chat)]
        );
        assert!(
            history
                .iter()
                .all(|r| r.customer.as_ref().map(|c| c.as_str()) == Some("c-phone"))
        );
        assert!(
            s.for_customer(&t, &"c-chat".into())
                .await
                .unwrap()
                .is_empty()
        );

        // the merge undone: the chat profile is back as it was, with its
        // identities and its interaction; the kept one as before the merge
        let wrong = callcore::CustomerStore::unmerge(&*s, &t, &"c-chat".into(), &"c-phone".into())
            .await
            .unwrap_err();
        assert!(
            matches!(wrong, callcore::CoreError::NotFound { what: "merge", .. }),
            "{wrong}"
        );
        let other = tenant("shop");
        let elsewhere =
            callcore::CustomerStore::unmerge(&*s, &other, &"c-phone".into(), &"c-chat".into())
                .await
                .unwrap_err();
        assert!(
            matches!(elsewhere, callcore::CoreError::NotFound { .. }),
            "{elsewhere}"
        );
        let undone = callcore::CustomerStore::unmerge(&*s, &t, &"c-phone".into(), &"c-chat".into())
            .await
            .unwrap();
        assert_eq!(undone.kept, phone_profile);
        assert_eq!(undone.absorbed, chat_profile);
        assert_eq!(undone.interactions, ["ch1".into()]);
        for (kind, value, who) in [
            (IdentityKind::Phone, "+4930111", "c-phone"),
            (IdentityKind::ChatId, "visitor-9", "c-chat"),
            (IdentityKind::WeChat, "wx-openid-1", "c-chat"),
        ] {
            let found = s.find_by_identity(&t, kind, value).await.unwrap().unwrap();
            assert_eq!(found.id.as_str(), who, "{kind:?} {value}");
        }
        let theirs = s.for_customer(&t, &"c-chat".into()).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].id.as_str(), "ch1");
        assert_eq!(
            theirs[0].customer.as_ref().map(|c| c.as_str()),
            Some("c-chat")
        );
        assert_eq!(
            s.for_customer(&t, &"c-phone".into()).await.unwrap().len(),
            1
        );
        // once undone, the merge is gone
        let again = callcore::CustomerStore::unmerge(&*s, &t, &"c-phone".into(), &"c-chat".into())
            .await
            .unwrap_err();
        assert!(
            matches!(again, callcore::CoreError::NotFound { what: "merge", .. }),
            "{again}"
        );
    }

    pub async fn merging_unknown_or_same_customers_fails_cleanly<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        callcore::CustomerStore::save(&*s, &profile("c1", "bank", vec![]))
            .await
            .unwrap();
        let err = s
            .merge_customers(&t, &"c1".into(), &"ghost".into())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotFound {
                    what: "customer",
                    ..
                }
            ),
            "{err}"
        );
        let err = s
            .merge_customers(&t, &"c1".into(), &"c1".into())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Invalid {
                    field: "absorbed",
                    ..
                }
            ),
            "{err}"
        );
        // Nothing changed.
        assert!(
            callcore::CustomerStore::get(&*s, &t, &"c1".into())
                .await
                .unwrap()
                .is_some()
        );
    }

    fn recording(id: &str, tenant_name: &str, interaction: &str, started: i64) -> RecordingMeta {
        RecordingMeta {
            id: id.into(),
            tenant: tenant_name.into(),
            interaction: interaction.into(),
            path: format!("/rec/{id}.wav"),
            channels: 2,
            started_at: ts(started),
            duration_ms: 61_500,
        }
    }

    pub async fn recordings_are_indexed_per_interaction<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        for r in [
            recording("r2", "bank", "call-1", 20),
            recording("r1", "bank", "call-1", 10),
            recording("r3", "bank", "call-2", 5),
        ] {
            callcore::RecordingStore::save(&*s, &r).await.unwrap();
        }
        let got = callcore::RecordingStore::get(&*s, &t, &"r1".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, recording("r1", "bank", "call-1", 10));
        let of_call = callcore::RecordingStore::for_interaction(&*s, &t, &"call-1".into())
            .await
            .unwrap();
        assert_eq!(
            of_call.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r1", "r2"]
        );
    }

    fn lead(id: &str, status: LeadStatus, next: Option<i64>) -> Lead {
        Lead {
            id: id.into(),
            campaign: "renewals".into(),
            tenant: "bank".into(),
            phone: Pii::new(format!("+49301{id}")),
            time_zone: Some("Europe/Berlin".into()),
            attempts: 0,
            status,
            next_attempt_at: next.map(ts),
        }
    }

    pub async fn campaigns_leads_attempts_and_leads_due<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        let c: CampaignId = "renewals".into();
        let campaign = Campaign {
            id: c.clone(),
            tenant: t.clone(),
            name: "Renewals".into(),
            queue: Some("outbound".into()),
            mode: DialMode::Predictive,
            caller_id: "+4930000".into(),
            max_attempts: 3,
            abandon_cap: 0.03,
        };
        s.save_campaign(&campaign).await.unwrap();
        assert_eq!(s.campaign(&t, &c).await.unwrap(), Some(campaign));
        s.save_leads(&[
            lead("l1", LeadStatus::Pending, Some(500)),
            lead("l2", LeadStatus::Pending, None),
            lead("l3", LeadStatus::Pending, Some(100)),
            lead("l4", LeadStatus::Done, None),
            lead("l5", LeadStatus::Pending, Some(9_999)),
        ])
        .await
        .unwrap();
        assert_eq!(s.leads(&t, &c).await.unwrap().len(), 5);
        let due = s.leads_due(&t, &c, ts(600), 10).await.unwrap();
        assert_eq!(
            due.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["l2", "l3", "l1"]
        );
        assert_eq!(s.leads_due(&t, &c, ts(600), 1).await.unwrap().len(), 1);
        // Dialing l2 updates it.
        let mut l2 = lead("l2", LeadStatus::Dialing, None);
        l2.attempts = 1;
        s.save_leads(&[l2.clone()]).await.unwrap();
        assert_eq!(s.leads_due(&t, &c, ts(600), 10).await.unwrap().len(), 2);
        for (n, disposition) in [Disposition::NoAnswer, Disposition::AnsweredPerson]
            .into_iter()
            .enumerate()
        {
            s.record_attempt(&DialAttempt {
                lead: "l2".into(),
                campaign: c.clone(),
                tenant: t.clone(),
                interaction: format!("out-{n}").into(),
                started_at: ts(600 + i64::try_from(n).unwrap()),
                disposition,
            })
            .await
            .unwrap();
        }
        let attempts = s.attempts(&t, &c).await.unwrap();
        assert_eq!(
            attempts
                .iter()
                .map(|a| a.disposition.clone())
                .collect::<Vec<_>>(),
            [Disposition::NoAnswer, Disposition::AnsweredPerson]
        );
    }

    pub async fn usage_is_metered_per_tenant<S: Backend>(s: Arc<S>) {
        let t = tenant("bank");
        use callcore::AgentState as A;
        let change = |agent: &str, from: A, to: A| EventKind::AgentStateChanged {
            agent: agent.into(),
            from,
            to,
        };
        s.append(&[
            ev(1, 100, "bank", change("alice", A::Offline, A::Available)),
            ev(
                2,
                101,
                "bank",
                change("bob", A::Offline, A::NotReady("setup".into())),
            ),
            ev(
                3,
                102,
                "bank",
                EventKind::Usage {
                    meter: "asr_seconds".into(),
                    quantity: 12.5,
                    channel: Some(Channel::Voice),
                },
            ),
            ev(
                4,
                103,
                "bank",
                EventKind::Usage {
                    meter: "asr_seconds".into(),
                    quantity: 7.5,
                    channel: None,
                },
            ),
            ev(
                5,
                104,
                "bank",
                EventKind::Usage {
                    meter: "sms_segments".into(),
                    quantity: 3.0,
                    channel: Some(Channel::Sms),
                },
            ),
            ev(
                6,
                105,
                "bank",
                EventKind::RecordingStopped {
                    interaction: "v1".into(),
                    recording: "r1".into(),
                    duration_ms: 61_001,
                },
            ),
            ev(7, 106, "telco", change("carol", A::Offline, A::Available)),
            ev(
                8,
                107,
                "telco",
                EventKind::Usage {
                    meter: "asr_seconds".into(),
                    quantity: 99.0,
                    channel: None,
                },
            ),
            ev(9, 5000, "bank", change("dave", A::Offline, A::Available)), // outside the period
        ])
        .await
        .unwrap();
        let mut v1 = record("v1", "bank", 100, None);
        v1.ended_at = Some(ts(100 + 61)); // 61 s: two billed minutes
        let mut v2 = record("v2", "bank", 200, None);
        v2.ended_at = Some(ts(200 + 60)); // exactly one minute
        let mut chat = record("c1", "bank", 300, None);
        chat.channel = Channel::Chat;
        chat.ended_at = Some(ts(900));
        let mut other = record("t1", "telco", 100, None);
        other.ended_at = Some(ts(1000));
        for r in [&v1, &v2, &chat, &other] {
            callcore::InteractionStore::save(&*s, r).await.unwrap();
        }
        let u = s.usage(&t, ts(0), ts(1000)).await.unwrap();
        assert_eq!(u.voice_minutes, 3);
        assert_eq!(u.interactions.get("voice"), Some(&2));
        assert_eq!(u.interactions.get("chat"), Some(&1));
        assert_eq!(u.seats, 2);
        assert_eq!(u.recordings, 1);
        assert_eq!(u.recording_seconds, 62);
        assert!((u.asr_seconds - 20.0).abs() < 1e-9);
        assert!((u.meters["sms_segments"] - 3.0).abs() < 1e-9);
        let telco = s.usage(&tenant("telco"), ts(0), ts(1000)).await.unwrap();
        assert_eq!((telco.seats, telco.voice_minutes), (1, 15));
        assert!((telco.asr_seconds - 99.0).abs() < 1e-9);
    }

    pub async fn no_query_crosses_tenants<S: Backend>(s: Arc<S>) {
        // The same ids in two tenants.
        let (a, b) = (tenant("bank"), tenant("telco"));
        s.append(&[
            ev(1, 10, "bank", queued("call-1", "support")),
            ev(1, 10, "telco", queued("call-1", "support")),
        ])
        .await
        .unwrap();
        let mut rb = record("call-1", "bank", 10, Some("c1"));
        rb.to = "bank-line".into();
        let mut rt = record("call-1", "telco", 10, Some("c1"));
        rt.to = "telco-line".into();
        callcore::InteractionStore::save(&*s, &rb).await.unwrap();
        callcore::InteractionStore::save(&*s, &rt).await.unwrap();
        callcore::CustomerStore::save(
            &*s,
            &profile("c1", "bank", vec![identity(IdentityKind::Phone, "+1")]),
        )
        .await
        .unwrap();
        callcore::CustomerStore::save(
            &*s,
            &profile("c2", "telco", vec![identity(IdentityKind::Phone, "+1")]),
        )
        .await
        .unwrap();
        callcore::RecordingStore::save(&*s, &recording("r1", "bank", "call-1", 10))
            .await
            .unwrap();
        s.save_leads(&[lead("l1", LeadStatus::Pending, None)])
            .await
            .unwrap(); // bank

        assert_eq!(
            callcore::EventJournal::for_interaction(&*s, &a, &"call-1".into())
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            callcore::EventJournal::for_interaction(&*s, &b, &"call-1".into())
                .await
                .unwrap()[0]
                .tenant,
            b
        );
        assert_eq!(
            callcore::InteractionStore::get(&*s, &a, &"call-1".into())
                .await
                .unwrap()
                .unwrap()
                .to,
            "bank-line"
        );
        assert_eq!(
            callcore::InteractionStore::get(&*s, &b, &"call-1".into())
                .await
                .unwrap()
                .unwrap()
                .to,
            "telco-line"
        );
        assert_eq!(
            s.for_customer(&b, &"c1".into()).await.unwrap()[0].to,
            "telco-line"
        );
        assert_eq!(
            s.find_by_identity(&a, IdentityKind::Phone, "+1")
                .await
                .unwrap()
                .unwrap()
                .id
                .as_str(),
            "c1"
        );
        assert_eq!(
            s.find_by_identity(&b, IdentityKind::Phone, "+1")
                .await
                .unwrap()
                .unwrap()
                .id
                .as_str(),
            "c2"
        );
        assert!(
            callcore::CustomerStore::get(&*s, &b, &"c1".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            callcore::RecordingStore::get(&*s, &b, &"r1".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            callcore::RecordingStore::for_interaction(&*s, &b, &"call-1".into())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.leads(&b, &"renewals".into()).await.unwrap().is_empty());
        assert!(
            s.leads_due(&b, &"renewals".into(), ts(0), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let err = s
            .merge_customers(&b, &"c2".into(), &"c1".into())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { .. }),
            "a merge cannot reach into another tenant: {err}"
        );
        assert_eq!(
            callcore::EventJournal::between(&*s, &a, ts(0), ts(100))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            callcore::InteractionStore::between(&*s, &b, ts(0), ts(100))
                .await
                .unwrap()
                .len(),
            1
        );
    }

    pub async fn a_real_call_is_journaled_and_recorded<S: Backend>(s: Arc<S>) {
        let (clock, transport, center) = center(Stores::all_in(s.clone())).await;
        let mut live = center.subscribe();
        let id = one_call(
            &clock,
            &transport,
            &center,
            "+4930123456",
            Duration::from_secs(30),
        )
        .await;
        drive(
            &clock,
            callcore::Clock::sleep(&clock, Duration::from_secs(10)),
            ts(T0 + 7200),
        )
        .await;
        center.flush().await;
        let record = callcore::InteractionStore::get(&*s, &"default".into(), &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.agent.as_ref().map(|a| a.as_str()), Some("alice"));
        assert_eq!(record.wait_ms, 2_000);
        assert_eq!(record.talk_ms, 30_000);
        assert_eq!(record.wrap_up_ms, 5_000);
        assert!(record.complete);
        let mut seen = Vec::new();
        while let Ok(Some(e)) = live.try_recv() {
            seen.push(e);
        }
        let journal = callcore::EventJournal::for_interaction(&*s, &"default".into(), &id)
            .await
            .unwrap();
        let live_ids: Vec<u64> = seen
            .iter()
            .filter(|e| e.interaction() == Some(&id))
            .map(|e| e.seq)
            .collect();
        assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), live_ids);
        assert!(
            journal
                .iter()
                .any(|e| matches!(e.kind, EventKind::WrapUpEnded { .. }))
        );
        center.shutdown().await;
    }

    pub async fn schema_is_at_the_latest_version_after_open<S: Backend>(s: Arc<S>) {
        assert_eq!(s.schema_version().await.unwrap(), schema::latest_version());
    }
}
