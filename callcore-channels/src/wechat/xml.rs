//! WeChat's callback XML: a flat `<xml>` element whose children hold text or
//! CDATA (`<ToUserName>`, `<MsgType>`, `<Content>`, `<Encrypt>` ...), read
//! with quick-xml; and the replies written back.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The largest callback body taken, in bytes (WeChat's are a few kB).
pub const MAX_BODY: usize = 64 * 1024;

/// The fields of a callback (top-level children of `<xml>`, by name).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields(HashMap<String, String>);

impl std::fmt::Debug for Fields {
    // the customer's words stay out of logs: only the field names
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("Fields").field(&names).finish()
    }
}

impl Fields {
    /// A field's text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field's text, when present and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|s| !s.trim().is_empty())
    }
}

/// Reads a callback body: the root must be `<xml>`, its children's text and
/// CDATA are kept by name (nested elements' text under their own names).
///
/// # Errors
/// What is wrong (not XML, another root, too large, unclosed).
pub fn parse(body: &str) -> Result<Fields, String> {
    if body.len() > MAX_BODY {
        return Err(format!("larger than {MAX_BODY} bytes"));
    }
    let mut reader = Reader::from_str(body);
    let mut fields = HashMap::new();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut root_seen = false;
    let mut closed = false;
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("not XML at {}: {e}", reader.error_position())),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if root_seen || name != "xml" {
                        return Err(format!("the root element is <{name}>, not <xml>"));
                    }
                    root_seen = true;
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                if path.is_empty() {
                    return Err("an empty root element".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                fields.entry(name).or_insert_with(String::new);
            }
            Ok(Event::Text(t)) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| format!("bad text at {}: {e}", reader.buffer_position()))?;
                text.push_str(&s);
            }
            Ok(Event::GeneralRef(r)) => {
                // &lt; &amp; ... and &#NN; in text
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let c = match name.as_str() {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "apos" => Some('\''),
                    "quot" => Some('"'),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                match c {
                    Some(c) => text.push(c),
                    None => return Err(format!("unknown entity &{name};")),
                }
            }
            Ok(Event::CData(c)) => {
                let s = std::str::from_utf8(c.as_ref()).map_err(|_| "CDATA not UTF-8")?;
                text.push_str(s);
            }
            Ok(Event::End(_)) => {
                let Some(name) = path.pop() else {
                    return Err("an end tag without its start".into());
                };
                if path.is_empty() {
                    closed = true;
                } else {
                    fields.entry(name).or_insert_with(|| text.trim().to_owned());
                }
                text.clear();
            }
            Ok(Event::DocType(_)) => return Err("a DOCTYPE (refused)".into()),
            Ok(_) => {}
        }
    }
    if !closed {
        return Err("no closed <xml> root".into());
    }
    Ok(Fields(fields))
}

/// `text` as CDATA (a `]]>` inside is split across two sections).
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A passive text reply to `to` (the customer's openid) from `from` (the
/// account's id, the callback's `ToUserName`).
pub fn text_reply(to: &str, from: &str, created: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{created}</CreateTime><MsgType>{}</MsgType><Content>{}</Content></xml>",
        cdata(to),
        cdata(from),
        cdata("text"),
        cdata(content)
    )
}

/// The envelope of an encrypted reply.
pub fn encrypted_reply(encrypt: &str, signature: &str, timestamp: &str, nonce: &str) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(signature),
        cdata(nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cdata_entities_and_refusals() {
        let f = parse(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1348831860</CreateTime>\
             <Content><![CDATA[a ]]]]><![CDATA[> b]]></Content><Note>1 &lt; 2 &amp; &#20320;</Note><Empty/></xml>",
        )
        .unwrap();
        assert_eq!(f.get("ToUserName"), Some("gh_1"));
        assert_eq!(f.get("CreateTime"), Some("1348831860"));
        assert_eq!(f.get("Content"), Some("a ]]> b"));
        assert_eq!(f.get("Note"), Some("1 < 2 & 你"));
        assert_eq!(f.get("Empty"), Some(""));
        for bad in [
            "",
            "not xml",
            "<xml><a>1</a>",
            "<root><a>1</a></root>",
            "<xml><a>1</b></xml>",
            "<!DOCTYPE x [<!ENTITY e \"x\">]><xml><a>&e;</a></xml>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let r = text_reply("o1", "gh_1", 5, "x]]>y");
        assert_eq!(parse(&r).unwrap().get("Content"), Some("x]]>y"));
    }
}
