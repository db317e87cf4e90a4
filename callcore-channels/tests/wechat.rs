//! The WeChat channel: its cryptography against WeChat's published vectors,
//! its callbacks (URL check, plain and safe-mode messages, forged, malformed
//! and retried ones) into an inbox, and its API client against the local
//! double of WeChat's server (token fetched, refreshed before expiry and on
//! 42001/40001, retries with backoff on -1 and 503).

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "wechat_support/mod.rs"]
mod double;

use std::sync::Arc;
use std::time::Duration;

use callcore::{Channel, Clock, IdSource, Transport, UuidV7Ids};
use callcore_channels::wechat::crypto::{MsgCrypt, signature, signature_matches};
use callcore_channels::wechat::{WeChatChannel, WeChatConfig, xml};
use callcore_channels::{Inbox, MessageDirection};
use callcore_runtime::SystemClock;
use double::{WeChatDouble, WeChatPeer, text_xml};

/// The EncodingAESKey of WeChat's official message-encryption samples
/// (WXBizMsgCrypt, the demo in every language of the sample download).
const SAMPLE_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[test]
fn url_signature_vector() {
    // wechatpy, tests/test_utils.py `test_check_signature_should_ok`: token
    // "test", timestamp 1410685589, nonce "test"
    let sig = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff";
    assert_eq!(signature(&["test", "1410685589", "test"]), sig);
    assert!(signature_matches(sig, &["test", "1410685589", "test"]));
    // ... and its `should_fail` twin: one hex digit off
    assert!(!signature_matches(
        "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe",
        &["test", "1410685589", "test"]
    ));
}

#[test]
fn encryption_vectors_of_the_official_java_sample() {
    // WeChat's official Java sample, WXBizMsgCryptTest: AppID
    // wxb11529c136998cb6, the random string "aaaabbbbccccdddd" and the
    // expected ciphertexts of a short Chinese text and of a video reply
    let c = MsgCrypt::new(SAMPLE_KEY, "wxb11529c136998cb6").unwrap();
    let random: [u8; 16] = *b"aaaabbbbccccdddd";
    let ct = c.encrypt_with(&random, "我是中文abcd123");
    assert_eq!(
        ct,
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    );
    assert_eq!(c.decrypt(&ct).unwrap(), "我是中文abcd123");
    let reply = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>\
        <FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime>\
        <MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId>\
        <Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    let expected = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
    assert_eq!(c.encrypt_with(&random, reply), expected);
    assert_eq!(c.decrypt(expected).unwrap(), reply);
}

/// The encrypted callback of WeChat's official Python sample (demo.py of
/// WXBizMsgCrypt): token "spamtest", AppID wx2c2769f8efd9abc2.
const DEMO_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

#[test]
fn decryption_vectors_of_the_official_python_sample_and_wechatpy() {
    // demo.py: timestamp 1409735669, nonce 1320562132, msg_signature 5d197aaf...
    assert!(signature_matches(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        &["spamtest", "1409735669", "1320562132", DEMO_ENCRYPT]
    ));
    let c = MsgCrypt::new(SAMPLE_KEY, "wx2c2769f8efd9abc2").unwrap();
    let inner = c.decrypt(DEMO_ENCRYPT).unwrap();
    let f = xml::parse(&inner).unwrap();
    assert!(f.non_empty("FromUserName").is_some(), "{inner}");
    assert!(f.non_empty("MsgType").is_some(), "{inner}");
    // ... encrypted for that app only
    let other = MsgCrypt::new(SAMPLE_KEY, "wxb11529c136998cb6").unwrap();
    assert!(other.decrypt(DEMO_ENCRYPT).is_err());

    // wechatpy, tests/test_work_crypto.py `test_decrypt_message` (the same
    // scheme; the corp id in the app id's place): token 123456
    let encrypt = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
    assert!(signature_matches(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        &["123456", "1411525903", "461056294", encrypt]
    ));
    let c = MsgCrypt::new(
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "wx49f0ab532d5d035a",
    )
    .unwrap();
    let f = xml::parse(&c.decrypt(encrypt).unwrap()).unwrap();
    assert_eq!(f.get("Content"), Some("test"));
    assert_eq!(f.get("FromUserName"), Some("messense"));
    assert_eq!(f.get("MsgId"), Some("4363689963896700987"));
}

fn config(token: &str, key: &str, appid: &str, mode: &str, api_base: &str) -> WeChatConfig {
    toml::from_str(&format!(
        "token = \"{token}\"\nencoding_aes_key = \"{key}\"\nappid = \"{appid}\"\n\
         secret = \"app-secret-1\"\nmode = \"{mode}\"\napi_base = \"{api_base}\"\n\
         queue = \"support\"\nretry_ms = 20\n"
    ))
    .unwrap()
}

fn inbox() -> Arc<Inbox> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdSource> = Arc::new(UuidV7Ids::random(clock.clone()));
    Inbox::new(
        Channel::WeChat,
        "default".into(),
        "channel:wechat",
        clock,
        ids,
    )
}

#[tokio::test]
async fn the_official_sample_callback_is_taken() {
    // the whole encrypted callback of demo.py through the channel (its 2014
    // timestamp: the replay check is off)
    let mut cfg = config(
        "spamtest",
        SAMPLE_KEY,
        "wx2c2769f8efd9abc2",
        "safe",
        "http://127.0.0.1:9",
    );
    cfg.max_clock_skew_secs = 0;
    let inbox = inbox();
    let ch = WeChatChannel::start(cfg, inbox.clone(), Arc::new(SystemClock)).unwrap();
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{DEMO_ENCRYPT}]]></Encrypt></xml>"
    );
    let query = format!(
        "signature={}&timestamp=1409735669&nonce=1320562132&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        signature(&["spamtest", "1409735669", "1320562132"])
    );
    let r = ch.callback(true, &query, body.as_bytes());
    assert_eq!((r.status, r.body.as_str()), (200, "success"));
    let offered = tokio::time::timeout(Duration::from_secs(2), inbox.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offered.interaction.channel, Channel::WeChat);
    // one hex digit of msg_signature off: refused
    let forged = query.replace("5d197aaf", "5d197aab");
    assert_eq!(ch.callback(true, &forged, body.as_bytes()).status, 403);
    assert_eq!(ch.counters().counts().0, 1);
}

#[tokio::test]
async fn callbacks_forged_malformed_and_retried_lose_nothing_valid() {
    let api = WeChatDouble::start("wxapp1", "app-secret-1", 7200).await;
    let key = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    let cfg = config("tok3n", key, "wxapp1", "compatible", &api.base());
    let inbox = inbox();
    let ch = WeChatChannel::start(cfg, inbox.clone(), Arc::new(SystemClock)).unwrap();
    // the channel's callback behind a tiny axum server, as a host mounts it
    let app = {
        use axum::extract::{RawQuery, State};
        let handler = |post: bool| {
            move |State(ch): State<Arc<WeChatChannel>>, RawQuery(q): RawQuery, body: String| async move {
                let r = ch.callback(post, q.as_deref().unwrap_or(""), body.as_bytes());
                (axum::http::StatusCode::from_u16(r.status).unwrap(), r.body)
            }
        };
        axum::Router::new()
            .route(
                "/wechat/default",
                axum::routing::get(handler(false)).post(handler(true)),
            )
            .with_state(ch.clone())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let peer = WeChatPeer {
        addr,
        path: "/wechat/default".into(),
        token: "tok3n".into(),
        crypt: Some(MsgCrypt::new(key, "wxapp1").unwrap()),
        account: "gh_test".into(),
    };

    let r = peer.verify_url("echo-4075181314397890557").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "echo-4075181314397890557")
    );

    // plain, then encrypted: two users, two conversations
    let r = peer
        .post(&text_xml("gh_test", "oUserA", "first", 1001), false)
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "success"));
    let a = inbox.accept().await.unwrap().interaction;
    assert_eq!(a.from.expose(), "oUserA");
    let r = peer
        .post(&text_xml("gh_test", "oUserB", "加密的消息", 1002), true)
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "success"));
    let b = inbox.accept().await.unwrap().interaction;

    // bad input between valid messages
    let forged = peer
        .post_forged(&text_xml("gh_test", "oUserA", "forged", 1003))
        .await;
    assert_eq!(forged.status, 403);
    let malformed = peer.post("<xml><FromUserName>oUserA</xml>", false).await;
    assert_eq!(malformed.status, 400);
    let retried = peer
        .post(&text_xml("gh_test", "oUserB", "加密的消息", 1002), true)
        .await;
    assert_eq!((retried.status, retried.body.as_str()), (200, "success"));
    let stale = peer
        .post_at(
            &text_xml("gh_test", "oUserA", "old", 1004),
            false,
            "1409735669",
            "7",
        )
        .await;
    assert_eq!(stale.status, 403, "a timestamp of 2014: a replay");
    let r = peer
        .post(&text_xml("gh_test", "oUserA", "second", 1005), false)
        .await;
    assert_eq!(r.status, 200);

    let texts = |id| {
        inbox
            .messages(id)
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == MessageDirection::Inbound)
            .map(|m| m.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&a.id), ["first", "second"]);
    assert_eq!(texts(&b.id), ["加密的消息"]);
    assert_eq!(inbox.open_count(), 2);
    let (routed, duplicates, refused, _) = ch.counters().counts();
    assert_eq!((routed, duplicates, refused), (3, 1, 3));
    let refusals = ch.counters().refusals.lock().unwrap().clone();
    assert!(refusals[0].contains("signature"), "{refusals:?}");
    assert!(refusals[1].contains("XML"), "{refusals:?}");

    // the agent's answer goes out through custom/send
    inbox.reply(&b.id, "您好，已处理", false).await.unwrap();
    let sent = api.wait_sent(1, 5).await;
    assert_eq!(
        (sent[0].touser.as_str(), sent[0].content.as_str()),
        ("oUserB", "您好，已处理")
    );
    server.abort();
}

#[tokio::test]
async fn the_access_token_is_refreshed_and_sends_are_retried() {
    // tokens that live 2 s: refreshed 0.4 s before they expire
    let api = WeChatDouble::start("wxapp1", "app-secret-1", 2).await;
    let cfg = config("tok3n", SAMPLE_KEY, "wxapp1", "plain", &api.base());
    let ch = WeChatChannel::start(cfg, inbox(), Arc::new(SystemClock)).unwrap();
    ch.api().send_text("oU1", "one").await.unwrap();
    ch.api().send_text("oU1", "two").await.unwrap();
    assert_eq!(api.tokens_issued(), 1, "the token is reused");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    ch.api().send_text("oU1", "three").await.unwrap();
    assert_eq!(api.tokens_issued(), 2, "refreshed before expiry");
    assert_eq!(api.tokens_refused(), 0);

    // expired early (42001) and revoked (40001): a new token, sent again
    api.expire_all();
    ch.api().send_text("oU1", "four").await.unwrap();
    api.revoke_all();
    ch.api().send_text("oU1", "five").await.unwrap();
    assert_eq!(api.tokens_refused(), 2);
    assert_eq!(api.tokens_issued(), 4);

    // busy twice, then 503 once: retried with backoff, delivered once
    api.busy(2);
    ch.api().send_text("oU1", "six").await.unwrap();
    api.unavailable(1);
    ch.api().send_text("oU1", "seven").await.unwrap();
    let contents: Vec<String> = api.sent().into_iter().map(|s| s.content).collect();
    assert_eq!(
        contents,
        ["one", "two", "three", "four", "five", "six", "seven"]
    );
    // down for good: an error after the attempts
    api.unavailable(100);
    let e = ch.api().send_text("oU1", "lost").await.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
    let c = ch.counters();
    assert_eq!(c.retries.load(std::sync::atomic::Ordering::Relaxed), 3 + 3);
}

#[test]
fn settings_are_checked_by_field_and_secrets_never_shown() {
    let good = config(
        "tok3n",
        SAMPLE_KEY,
        "wxapp1",
        "safe",
        "https://api.weixin.qq.com",
    );
    assert!(good.validate("wechat").is_ok());
    let shown = format!("{good:?}");
    assert!(
        !shown.contains("app-secret-1") && !shown.contains(SAMPLE_KEY) && !shown.contains("tok3n")
    );
    for (change, field) in [
        ("token = \"a b\"", "wechat.token"),
        ("encoding_aes_key = \"short\"", "wechat.encoding_aes_key"),
        ("appid = \"\"", "wechat.appid"),
        ("api_base = \"ftp://x\"", "wechat.api_base"),
        ("queue = \"\"", "wechat.queue"),
        ("agent_capacity = 0", "wechat.agent_capacity"),
    ] {
        let key = change.split(' ').next().unwrap();
        let mut text = format!(
            "token = \"tok3n\"\nencoding_aes_key = \"{SAMPLE_KEY}\"\nappid = \"wxapp1\"\n\
             secret = \"app-secret-1\"\nmode = \"safe\"\nqueue = \"support\"\n"
        )
        .lines()
        .filter(|l| !l.starts_with(&format!("{key} ")))
        .collect::<Vec<_>>()
        .join("\n");
        text.push('\n');
        text.push_str(change);
        let c: WeChatConfig = toml::from_str(&text).unwrap();
        let e = c.validate("wechat").unwrap_err().to_string();
        assert!(e.starts_with(field), "{change}: {e}");
        assert!(!e.contains("app-secret-1"), "{e}");
    }
    // safe mode needs the key
    let mut c = good.clone();
    c.encoding_aes_key = None;
    assert!(
        c.validate("wechat")
            .unwrap_err()
            .to_string()
            .starts_with("wechat.encoding_aes_key")
    );
}
