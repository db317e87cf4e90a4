//! SMS text codings: the GSM 03.38 default alphabet (7-bit, one septet per
//! octet as SMPP carries it unpacked, with the extension table behind
//! escape) and UCS-2 (UTF-16 big-endian); decoding of what a message centre
//! delivers, refusing bytes that are not valid in their declared coding.

use crate::ChannelError;

/// The SMPP `data_coding` of GSM 7-bit (the SMSC default alphabet).
pub const DC_GSM7: u8 = 0x00;
/// IA5 / ASCII.
pub const DC_ASCII: u8 = 0x01;
/// Latin-1.
pub const DC_LATIN1: u8 = 0x03;
/// UCS-2.
pub const DC_UCS2: u8 = 0x08;

/// The GSM 03.38 default alphabet, by septet.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table (after the escape septet 0x1B).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

const ESC: u8 = 0x1B;

/// The septets of `c` in GSM 7-bit (one, or escape and one); `None` when
/// the alphabet lacks it.
fn gsm_septets(c: char) -> Option<([u8; 2], usize)> {
    if c != '\u{1b}'
        && let Some(i) = BASIC.iter().position(|&b| b == c)
    {
        return Some(([i as u8, 0], 1));
    }
    EXTENSION
        .iter()
        .find(|(_, e)| *e == c)
        .map(|(s, _)| ([ESC, *s], 2))
}

/// `text` in GSM 7-bit septets (unpacked), or `None` when a character is
/// not in the alphabet (the text then goes as UCS-2).
pub fn encode_gsm7(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (s, n) = gsm_septets(c)?;
        out.extend_from_slice(&s[..n]);
    }
    Some(out)
}

/// Unpacked GSM 7-bit septets as text.
///
/// # Errors
/// [`ChannelError::Refused`] (`short_message`) on an octet above 0x7F.
pub fn decode_gsm7(septets: &[u8]) -> Result<String, ChannelError> {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter().copied();
    while let Some(s) = it.next() {
        if s > 0x7F {
            return Err(ChannelError::refused(
                "short_message",
                format!("octet 0x{s:02X} is not a GSM 7-bit septet"),
            ));
        }
        if s == ESC {
            if let Some(e) = it.next() {
                match EXTENSION.iter().find(|(x, _)| *x == e) {
                    Some((_, c)) => out.push(*c),
                    // an unknown escape reads as a space (GSM 03.38)
                    None => out.push(' '),
                }
            }
        } else {
            out.push(BASIC[usize::from(s)]);
        }
    }
    Ok(out)
}

/// `text` in UCS-2 (UTF-16 big-endian; characters beyond the BMP as
/// surrogate pairs, as phones send them).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// UCS-2 / UTF-16BE octets as text.
///
/// # Errors
/// [`ChannelError::Refused`] (`short_message`) on an odd length or an
/// unpaired surrogate.
pub fn decode_ucs2(octets: &[u8]) -> Result<String, ChannelError> {
    if !octets.len().is_multiple_of(2) {
        return Err(ChannelError::refused(
            "short_message",
            "UCS-2 text of an odd number of octets",
        ));
    }
    let units: Vec<u16> = octets
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| {
        ChannelError::refused("short_message", "UCS-2 text with an unpaired surrogate")
    })
}

/// The text of a short message in `data_coding`. The SMSC default alphabet
/// (0) is GSM 7-bit; octets above 0x7F there are taken as UTF-8, as some
/// message centres send it, and refused when they are not valid UTF-8.
///
/// # Errors
/// [`ChannelError::Refused`] (`short_message` or `data_coding`).
pub fn decode(data_coding: u8, octets: &[u8]) -> Result<String, ChannelError> {
    match data_coding {
        DC_GSM7 if octets.iter().all(|&b| b <= 0x7F) => decode_gsm7(octets),
        DC_GSM7 => std::str::from_utf8(octets).map(str::to_owned).map_err(|e| {
            ChannelError::refused(
                "short_message",
                format!(
                    "neither GSM 7-bit nor valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        }),
        DC_ASCII => {
            if octets.is_ascii() {
                Ok(String::from_utf8_lossy(octets).into_owned())
            } else {
                Err(ChannelError::refused(
                    "short_message",
                    "IA5 text with an octet above 0x7F",
                ))
            }
        }
        DC_LATIN1 => Ok(octets.iter().map(|&b| char::from(b)).collect()),
        DC_UCS2 => decode_ucs2(octets),
        other => Err(ChannelError::refused(
            "data_coding",
            format!("data_coding 0x{other:02X} is not text this center reads"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_round_trips_with_the_extension_table() {
        let text = "Hello @ £5 {ok} [x] ~ | € ^ \\ Ünïcode?";
        // ï is not in the alphabet
        assert!(encode_gsm7(text).is_none());
        let text = "Hello @ £5 {ok} [x] ~ | € ^ \\ Ü";
        let septets = encode_gsm7(text).unwrap();
        assert!(septets.iter().all(|&s| s <= 0x7F));
        assert_eq!(septets[6], 0x00, "@ is septet 0");
        assert_eq!(decode_gsm7(&septets).unwrap(), text);
        assert_eq!(decode(DC_GSM7, &septets).unwrap(), text);
    }

    #[test]
    fn ucs2_round_trips_chinese_and_emoji() {
        let text = "退订 谢谢 😀";
        let octets = encode_ucs2(text);
        assert_eq!(&octets[..4], &[0x90, 0x00, 0x8B, 0xA2]);
        assert_eq!(decode(DC_UCS2, &octets).unwrap(), text);
    }

    #[test]
    fn invalid_text_is_refused_naming_the_field() {
        let e = decode(DC_GSM7, &[b'h', 0xC3, 0x28]).unwrap_err();
        assert!(
            matches!(
                e,
                ChannelError::Refused {
                    part: "short_message",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("UTF-8"), "{e}");
        assert!(decode(DC_UCS2, &[0x00]).is_err());
        assert!(decode(DC_UCS2, &[0xD8, 0x00, 0x00, 0x41]).is_err());
        assert!(matches!(
            decode(0x04, b"bin"),
            Err(ChannelError::Refused {
                part: "data_coding",
                ..
            })
        ));
        // valid UTF-8 in the default alphabet is read
        assert_eq!(decode(DC_GSM7, "héllo".as_bytes()).unwrap(), "héllo");
    }
}
