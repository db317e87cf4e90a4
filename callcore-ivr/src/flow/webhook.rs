//! The webhook variant of the `task` node: POST the flow's variables as JSON,
//! merge the JSON object that comes back into the variables.
//!
//! The client is hyper's HTTP/1.1 connection over a tokio TCP stream (one
//! connection per call, no pool, plain HTTP). It is compiled with the
//! `webhook` feature (on by default); without it a webhook node fails over to
//! its `on_error` with a clear message.

use std::collections::BTreeMap;

/// Largest answer body read, bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Checks that `url` is something [`call`] can reach: `http://host[:port]/path`.
pub fn check_url(url: &str) -> Result<(), String> {
    parse(url).map(|_| ())
}

struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

fn parse(url: &str) -> Result<Target, String> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if url.starts_with("https://") {
        return Err(format!(
            "{url:?}: https is not supported by the built-in client; call a local HTTP proxy"
        ));
    } else {
        return Err(format!("{url:?} is not an http:// URL"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(format!("{url:?}: missing or unusable host"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            None if after.is_empty() => 80,
            None => return Err(format!("{url:?}: unusable host")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            None => (authority.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?}: missing host"));
    }
    Ok(Target {
        host,
        port,
        authority: authority.to_string(),
        path,
    })
}

/// Turns the answer's JSON object into variables: strings as they are,
/// numbers and booleans as text, nested objects flattened to `a.b`, arrays as
/// JSON text, `null` skipped.
pub fn merge_answer(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("webhook answer is not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("webhook answer is not a JSON object".to_string());
    };
    let mut out = BTreeMap::new();
    flatten("", &map, &mut out);
    Ok(out)
}

fn flatten(
    prefix: &str,
    map: &serde_json::Map<String, serde_json::Value>,
    out: &mut BTreeMap<String, String>,
) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => {
                out.insert(key, s.clone());
            }
            serde_json::Value::Object(inner) => flatten(&key, inner, out),
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// POSTs `variables` as a JSON object to `url` and returns the variables of
/// the answer, or an error message (connection, status, timeout, body).
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub async fn call(
    url: &str,
    variables: &BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<BTreeMap<String, String>, String> {
    match tokio::time::timeout(timeout, exchange(url, variables)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "webhook {url}: no answer within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(feature = "webhook")]
async fn exchange(
    url: &str,
    variables: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    use http_body_util::BodyExt;

    let target = parse(url)?;
    let body = serde_json::to_vec(variables).map_err(|e| format!("webhook body: {e}"))?;
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("webhook {url}: connect: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("webhook {url}: {e}"))?;
    // The connection task ends with the exchange (or when `call` times out and
    // drops the sender).
    let driver = tokio::spawn(connection);
    let request = hyper::Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| format!("webhook {url}: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("webhook {url}: {e}"))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("webhook {url}: reading the answer: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("webhook {url}: HTTP {}", status.as_u16()));
        }
        merge_answer(&body)
    }
    .await;
    drop(sender);
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:8080/bill").is_ok());
        assert!(check_url("http://billing.internal/lookup?x=1").is_ok());
        assert!(check_url("http://[::1]:81/").is_ok());
        let t = parse("http://example.com?a=b").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("example.com", 80, "/?a=b")
        );
        assert!(
            check_url("https://example.com/")
                .unwrap_err()
                .contains("https")
        );
        assert!(check_url("ftp://x/").is_err());
        assert!(check_url("http:///x").is_err());
        assert!(check_url("http://host:port/").is_err());
        assert!(check_url("http://user@host/").is_err());
    }

    #[test]
    fn answers_are_flattened_into_variables() {
        let vars = merge_answer(
            br#"{"balance": 42.5, "currency": "USD", "overdue": false, "plan": {"name": "basic"}, "note": null, "items": [1, 2]}"#,
        )
        .unwrap();
        assert_eq!(vars["balance"], "42.5");
        assert_eq!(vars["currency"], "USD");
        assert_eq!(vars["overdue"], "false");
        assert_eq!(vars["plan.name"], "basic");
        assert_eq!(vars["items"], "[1,2]");
        assert!(!vars.contains_key("note"));
        assert!(merge_answer(b"  ").unwrap().is_empty());
        assert!(merge_answer(b"[1]").unwrap_err().contains("object"));
        assert!(merge_answer(b"<html>").unwrap_err().contains("not JSON"));
    }
}
