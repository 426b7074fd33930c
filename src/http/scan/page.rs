//! The scan landing as a plain server-rendered page: readable without JavaScript, no
//! third-party resources, one verdict in a large banner with an icon and words (never colour
//! alone), Chinese first with English beneath. The full consumer page builds on this.

use std::fmt::Write;

use super::view::{headline, status_of};
use crate::registry::{ScanOutcome, Verdict, SUSPICIOUS_SCANS};

/// No scripts at all; inline styles only.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Banner colours (white text; all meet WCAG AA contrast) and icon per verdict.
fn style(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Valid => ("#1b5e20", "✔"),
        Verdict::Suspended => ("#8a4b00", "⏸"),
        Verdict::Expired => ("#5f4b00", "⌛"),
        Verdict::Revoked | Verdict::Withdrawn | Verdict::MarkRevoked => ("#8e1b1b", "✖"),
        Verdict::NotGenuine | Verdict::Unknown => ("#b00020", "⚠"),
    }
}

fn row(out: &mut String, label_zh: &str, label_en: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th scope=\"row\">{label_zh}<br><small>{label_en}</small></th><td>{}</td></tr>",
        escape(value)
    );
}

/// The whole page.
pub fn render(outcome: &ScanOutcome) -> String {
    let (zh, en) = headline(outcome.verdict);
    let (colour, icon) = style(outcome.verdict);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{zh} · Starmark</title><style>\
         body{{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a}}\
         main{{max-width:40rem;margin:0 auto;padding:0 1rem 2rem}}\
         .verdict{{background:{colour};color:#fff;padding:1.25rem 1rem;margin:0 -1rem 1rem}}\
         .verdict h1{{margin:0;font-size:1.6rem}}.verdict p{{margin:.25rem 0 0}}\
         table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;vertical-align:top;padding:.4rem .3rem;border-bottom:1px solid #ddd}}\
         th{{width:38%;font-weight:600}}small{{color:#555}}.warn{{background:#fff4e5;border-left:4px solid #b00020;padding:.5rem .75rem}}\
         </style></head><body><main>\
         <section class=\"verdict\" role=\"status\"><h1><span aria-hidden=\"true\">{icon}</span> {zh}</h1><p>{en}</p>\
         <p><small style=\"color:#fff\">{}</small></p></section>",
        escape(&outcome.detail)
    );
    if matches!(outcome.verdict, Verdict::NotGenuine | Verdict::Unknown) {
        out.push_str(
            "<p class=\"warn\"><strong>请勿相信该产品的认证声明。</strong>这个二维码不是认证机构签发的有效标志。\
             请保留产品与购买凭证，并向认证机构或市场监管部门（12315）举报。<br>\
             <small>Do not trust this product's certification claim. Keep the product and receipt and report it \
             to the certification body or market regulator (12315).</small></p>",
        );
    }
    if let Some(scans) = &outcome.scans {
        if scans.count > SUSPICIOUS_SCANS {
            let _ = write!(
                out,
                "<p class=\"warn\"><strong>此标志已被查询 {} 次</strong>，远多于一件真实商品的标志。可能是复制的标志。<br>\
                 <small>This mark was checked {} times, far more than a real package's mark: it may be copied.</small></p>",
                scans.count, scans.count
            );
        }
    }
    for note in &outcome.notes {
        let _ = write!(out, "<p class=\"warn\">{}</p>", escape(note));
    }
    out.push_str("<h2>证书信息 <small>Certificate</small></h2><table>");
    if let Some(certificate) = &outcome.certificate {
        let record = &certificate.record;
        row(&mut out, "持证企业", "Holder", &record.holder.name);
        if let Some(name_en) = &record.holder.name_en {
            row(&mut out, "英文名称", "Holder (English)", name_en);
        }
        row(&mut out, "统一社会信用代码", "Unified social credit code", record.holder.uscc.as_str());
        let stars = "★".repeat(usize::from(record.level.stars()));
        row(&mut out, "星级", "Level", &format!("{stars} {} ({})", record.level.name_zh(), record.level));
        row(&mut out, "认证范围", "Scope", &record.scope);
        row(&mut out, "证书编号", "Certificate number", record.number.as_str());
        if let Some(status) = status_of(outcome) {
            let mut text = format!("{} ({}) since {}", status.state.name_zh(), status.state, status.since);
            if let Some(until) = status.until {
                let _ = write!(text, ", until {until}");
            }
            if let Some(reason) = status.reason {
                let _ = write!(text, " — {reason}");
            }
            row(&mut out, "证书状态", "Status", &text);
        }
        row(&mut out, "有效期", "Valid", &format!("{} – {}", record.issued, record.valid_until));
        row(
            &mut out,
            "认证机构",
            "Issuing body",
            &format!("{} ({})", record.issuer.name, record.issuer.approval_number.as_str()),
        );
    } else if let Some(claims) = &outcome.claims {
        row(&mut out, "标志声称的证书", "Certificate the mark claims", claims.number.as_str());
    } else {
        row(&mut out, "证书", "Certificate", "—");
    }
    if let Some(claims) = &outcome.claims {
        if claims.batch != 0 {
            row(&mut out, "标志序列号", "Mark serial", &format!("{}-{:06}", claims.batch, claims.serial));
        }
    }
    if let Some((reason, date)) = &outcome.mark_revocation {
        row(&mut out, "标志作废", "Mark revoked", &format!("{date}: {reason}"));
    }
    if let Some(scans) = &outcome.scans {
        row(
            &mut out,
            "查询次数",
            "Checked",
            &format!("{} 次 / times, first on {}", scans.count, scans.first_at.format("%Y-%m-%d %H:%M UTC")),
        );
    }
    let _ = write!(
        out,
        "</table><p><small>数据时间 Data as of {}</small></p></main></body></html>",
        outcome.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
