//! Content codings the read path offers (RFC 9110 §8.4, §12.5.3): whether a request's
//! `Accept-Encoding` takes gzip. Answers kept unpacked keep a gzip form made once
//! ([`crate::cache::Prepared::gzip`]); every other client, and every answer without one, gets
//! the identity form.

use axum::http::header::ACCEPT_ENCODING;
use axum::http::HeaderMap;

/// Whether the request accepts `gzip` (or `x-gzip`): named with a weight above zero, or covered
/// by `*` with one and not named. No header, or a weight that does not parse, means no: the
/// identity form is always acceptable unless refused, and refusing it is not honoured here.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parameters = item.split(';');
            let coding = parameters.next().unwrap_or_default().trim();
            let weighted = parameters
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(true, |(_, q)| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0 && q <= 1.0));
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                named = Some(named.unwrap_or(false) || weighted);
            } else if coding == "*" {
                any = Some(weighted);
            }
        }
    }
    named.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepts(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_taken_only_when_the_client_gives_it_weight() {
        for (values, expected) in [
            (&[][..], false),
            (&["gzip"][..], true),
            (&["GZip"][..], true),
            (&["x-gzip"][..], true),
            (&["gzip, deflate, br"][..], true),
            (&["br;q=1.0, gzip;q=0.8, *;q=0.1"][..], true),
            (&["deflate", "gzip"][..], true),
            (&["*"][..], true),
            (&["gzip;q=0"][..], false),
            (&["gzip; q=0.000"][..], false),
            (&["gzip;Q=0"][..], false),
            (&["*;q=0"][..], false),
            (&["gzip;q=0, *"][..], false),
            (&["*, gzip;q=0"][..], false),
            (&["*;q=0, gzip"][..], true),
            (&["identity"][..], false),
            (&["br, deflate"][..], false),
            (&["gzipped"][..], false),
            (&["gzip;q=abc"][..], false),
            (&["gzip;q=2"][..], false),
            (&[""][..], false),
        ] {
            assert_eq!(accepts(values), expected, "{values:?}");
        }
    }
}
