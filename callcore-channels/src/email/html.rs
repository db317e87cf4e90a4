//! HTML bodies as plain text for agents: markup, scripts, styles and
//! comments dropped, block elements as line breaks, entities decoded.
//! Nothing of the HTML reaches the desktop as HTML.

/// The text of `html`: what a reader would see, with paragraphs and line
/// breaks kept and runs of blank space collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // an unclosed tag: the rest is markup
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        if !closing && matches!(name.as_str(), "script" | "style" | "head" | "title") {
            // skip to the matching close tag, content and all
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&close) {
                Some(i) => rest[i..].find('>').map_or("", |g| &rest[i + g + 1..]),
                None => "",
            };
            continue;
        }
        match name.as_str() {
            "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            | "blockquote" | "pre" | "table" | "ul" | "ol" | "hr" => out.push('\n'),
            "td" | "th" => out.push(' '),
            _ => {}
        }
    }
    push_text(&mut out, rest);
    tidy(&out)
}

/// Appends text between tags, entities decoded.
fn push_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| c == ';' || c.is_whitespace() || c == '&')
            .map(|i| i + 1);
        match end {
            Some(e) if rest.as_bytes().get(e) == Some(&b';') => {
                match entity(&rest[1..e]) {
                    Some(c) => out.push(c),
                    None => out.push_str(&rest[..=e]),
                }
                rest = &rest[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| !c.is_control() || c.is_whitespace());
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "euro" => '€',
        _ => return None,
    })
}

/// Collapses spaces within lines and blank lines to one.
fn tidy(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() && lines.last().is_none_or(String::is_empty) {
            continue;
        }
        lines.push(l);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn markup_scripts_and_styles_go_text_stays() {
        let html = "<html><head><title>t</title><style>p{color:red}</style></head><body>\
            <p>Hello&nbsp;<b>there</b> &amp; welcome</p><script>alert('x')</script>\
            <!-- hidden --><div>Line&#32;two &lt;ok&gt; &#x263A;</div><br>end</body></html>";
        assert_eq!(
            html_to_text(html),
            // blocks apart by one blank line at most
            "Hello there & welcome\n\nLine two <ok> ☺\n\nend"
        );
    }

    #[test]
    fn unclosed_and_unknown_are_harmless() {
        assert_eq!(html_to_text("a &bogus; b & c <i"), "a &bogus; b & c");
        assert_eq!(html_to_text("<SCRIPT>x</SCRIPT>y"), "y");
    }
}
