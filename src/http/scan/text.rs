//! Every string of the scan page in Chinese and English (the page's own; the frame's are in
//! `pages::i18n`, which this page also uses for the labels it shares with the others). Strings
//! with `{}` take values in order, filled by [`fill`].

use maud::Render;

use crate::http::pages::i18n::{t, Phrase, Text};

// Sections and labels.
pub const CERTIFICATE: Text = t("证书信息", "Certificate");
pub const THIS_MARK: Text = t("标志信息", "This mark");
pub const HOLDER: Text = t("持证企业", "Holder");
pub const HOLDER_EN: Text = t("英文名称", "Name in English");
pub const LEVEL: Text = t("认证星级", "Level");
pub const STATUS: Text = t("证书状态", "Status");
pub const VALIDITY_RANGE: Text = t("{} 至 {}", "{} to {}");
pub const ISSUER: Text = t("认证机构", "Issuing body");
pub const ISSUER_VALUE: Text = t("{}（批准号 {}）", "{} (approval {})");
pub const SERIAL: Text = t("标志序列号", "Mark serial");
pub const PRODUCT_COVERED: Text =
    t("本产品「{}」（GTIN {}）在证书 {} 的认证范围内。", "This product, {} (GTIN {}), is covered by certificate {}.");
pub const CERTIFICATE_MARK: Text = t("证书级标志（无序列号）", "Certificate-level mark (no serial)");
pub const CHECKS: Text = t("查询情况", "Checks");
pub const CHECKS_VALUE: Text = t(
    "已有 {} 个不同网络查询过此标志（自 {} 起，同一网络和浏览器每天只计一次）",
    "Checked from {} different networks since {} (each network and browser counted once a day)",
);
pub const CHECKS_ONCE: Text = t(
    "已有 1 个网络查询过此标志（自 {} 起，同一网络和浏览器每天只计一次）",
    "Checked from 1 network since {} (each network and browser counted once a day)",
);
pub const CHECKS_AT_LEAST: Text =
    t("已有超过 {} 个不同网络查询过此标志（自 {} 起）", "Checked from more than {} different networks since {}");
pub const CHECKS_NONE: Text = t(
    "尚未计入任何来自手机或浏览器的查询",
    "No check from a phone or browser counted yet (bots and link previews are not counted)",
);
pub const CHECKS_UNKNOWN: Text = t("查询情况暂时无法显示", "The number of checks cannot be shown right now");
pub const MARK_REVOKED_LABEL: Text = t("标志作废", "Mark revoked");
pub const MARK_REVOKED_VALUE: Text = t("{} 作废，原因：{}", "revoked on {}, reason: {}");
pub const KEY_ID: Text = t("签名密钥", "Signing key");
pub const CLAIMED: Text = t("标志声称（未经证实）", "What the mark claims (unconfirmed)");
pub const CLAIMED_VALUE: Text = t("证书 {}，统一社会信用代码 {}", "certificate {}, unified social credit code {}");
pub const DETAILS_LINK: Text = t("查看证书详情", "Certificate details");

// Status values.
pub const STATUS_SINCE: Text = t("{}（自 {} 起）", "{} since {}");
pub const STATUS_UNTIL: Text = t("，暂停至 {}", ", until {}");
pub const STATUS_REASON: Text = t("。原因：{}", ". Reason: {}");

// Verdict details: why, in the reader's language.
pub const DETAIL_VALID: Text = t(
    "这是认证机构签发的正品标志，证书当前有效。",
    "This mark was issued by the certification body, and the certificate is valid today.",
);
pub const DETAIL_SUSPENDED: Text = t(
    "标志为正品，但证书已于 {} 暂停，暂停期间企业不得使用认证标志。",
    "The mark is genuine, but the certificate was suspended on {}; while suspended, the company may not use the mark.",
);
pub const DETAIL_SUSPENDED_UNTIL: Text = t("暂停至 {}。", "The suspension runs until {}.");
pub const DETAIL_SUSPENDED_OVERDUE: Text = t(
    "暂停已超过截止日期 {}，认证机构须恢复或撤销该证书；在此之前证书仍无效。",
    "The suspension passed its end date {}: the body must reinstate or revoke the certificate, and until then it is not valid.",
);
pub const DETAIL_REASON: Text = t("原因：{}", "Reason: {}");
pub const DETAIL_REVOKED: Text = t(
    "标志为正品，但证书已于 {} 被撤销，企业不得再使用认证标志。",
    "The mark is genuine, but the certificate was revoked on {}; the company may no longer use the mark.",
);
pub const DETAIL_WITHDRAWN: Text = t(
    "标志为正品，但证书已于 {} 应持证企业申请注销，企业不得再使用认证标志。",
    "The mark is genuine, but the certificate was withdrawn at the holder's request on {}; the company may no longer use the mark.",
);
pub const DETAIL_EXPIRED: Text = t(
    "标志为正品，但证书有效期已于 {} 届满，证书已过期失效。",
    "The mark is genuine, but the certificate's validity ended on {}; it has expired.",
);
pub const DETAIL_MARK_REVOKED: Text = t(
    "证书仍然有效，但认证机构已于 {} 作废这一标志序列号（原因：{}）。带有此标志的商品不能证明获得认证。",
    "The certificate is still valid, but the certification body revoked this mark's serial on {} (reason: {}). A product carrying this mark is no proof of certification.",
);
pub const DETAIL_MALFORMED: Text = t(
    "这不是认证机构签发的标志：二维码中的内容不是有效的标志编码。",
    "This is not a mark the certification body issued: the QR code does not hold a valid mark code.",
);
pub const DETAIL_UNKNOWN_KEY: Text = t(
    "这个标志的签名密钥不在认证机构公布的公钥列表中，不是本机构签发的标志。",
    "This mark was signed with a key that is not in the certification body's published trust list: the body did not issue it.",
);
pub const DETAIL_BAD_SIGNATURE: Text = t(
    "标志的数字签名不匹配：标志内容被篡改或伪造。",
    "The mark's digital signature does not match: it was altered or forged.",
);
pub const DETAIL_NO_CERTIFICATE: Text =
    t("登记系统中没有这个标志所称的证书 {}。", "The registry has no certificate {}, which this mark claims.");
pub const DETAIL_OTHER_HOLDER: Text =
    t("标志所称的企业与该证书的持证企业不符。", "The mark names a different company than the certificate's holder.");
pub const DETAIL_SERIAL_NOT_ISSUED: Text =
    t("标志序列号 {} 从未为该证书签发。", "Serial {} was never issued for this certificate.");

// Differences between the mark and today's record (after a renewal): notes, not failures.
pub const NOTE_LEVEL: Text =
    t("标志上印的星级为{}，证书现在的星级为{}。", "The mark shows the level {}; the certificate now holds {}.");
pub const NOTE_VALIDITY: Text = t(
    "标志印制时证书有效期至 {}，现在证书有效期至 {}。",
    "The mark was printed for validity until {}; the certificate now runs until {}.",
);

// What to do when the mark cannot be trusted.
pub const WHAT_TO_DO: Text = t("怎么办", "What to do");
pub const DO_NOT_TRUST: Text = t("请勿相信该产品的认证声明。", "Do not trust this product's certification claim.");
pub const KEEP_PRODUCT: Text = t(
    "保留商品和购买凭证（发票、小票或订单截图）。",
    "Keep the product and the proof of purchase (invoice, till receipt or order screenshot).",
);
pub const REPORT_BODY: Text =
    t("向认证机构举报：{}（批准号 {}）。", "Report it to the certification body: {} (approval {}).");
pub const REPORT_12315: Text =
    t("向市场监管部门投诉举报：拨打 {} 或登录{}。", "Report it to the market regulator: call {} or use {}.");
pub const PLATFORM_12315: Text = t("全国12315平台", "the national 12315 platform");

// Copied marks.
pub const SUSPICIOUS: Text = t(
    "此标志已从超过 {} 个不同网络被查询，远多于一件真实商品的标志。该标志可能被复制，请谨慎。",
    "This mark was checked from more than {} different networks, far more than one real package's mark would be: it may have been copied. Be careful.",
);

// The check on this device (the script fills these in; the first shows without it).
pub const DEVICE_CHECK: Text = t("本机签名核验", "Signature check on this device");
pub const DEVICE_NEEDS_JS: Text = t(
    "本机核验签名需要启用 JavaScript。上方结论来自登记系统。",
    "The signature check on this device needs JavaScript. The verdict above is the registry's.",
);
pub const DEVICE_CHECKING: Text = t("正在本机核验签名…", "Checking the signature on this device…");
pub const DEVICE_VERIFIED: Text = t(
    "已在本机核验签名 ✔ 标志由认证机构公布的密钥签发。",
    "Signature checked on this device ✔ The mark was signed by a key in the body's published trust list.",
);
pub const DEVICE_INVALID: Text = t("本机核验：签名不匹配 ✖", "Checked on this device: the signature does not match ✖");
pub const DEVICE_UNKNOWN_KEY: Text =
    t("本机核验：签名密钥不在公钥列表中 ✖", "Checked on this device: the signing key is not in the trust list ✖");
pub const DEVICE_MALFORMED: Text =
    t("本机核验：标志编码格式错误 ✖", "Checked on this device: the mark code is malformed ✖");
pub const DEVICE_UNSUPPORTED: Text = t(
    "此浏览器无法在本机核验签名（不支持 WebCrypto Ed25519）。请以上方登记系统的结论为准。",
    "This browser cannot check the signature itself (no WebCrypto Ed25519). Rely on the registry's verdict above.",
);
pub const DEVICE_ERROR: Text = t(
    "本机核验未能完成：无法获取公钥列表。请以上方登记系统的结论为准。",
    "The check on this device could not finish: the trust list could not be loaded. Rely on the registry's verdict above.",
);
pub const DEVICE_MISMATCH_GENUINE: Text = t(
    "注意：本机核验与登记系统的结论不一致。登记系统认为标志是正品，但本机未能证实其签名。请勿仅凭本页判断，稍后重试或联系认证机构。",
    "Warning: the check on this device disagrees with the registry. The registry says the mark is genuine, but this device could not confirm its signature. Do not rely on this page alone: try again later or contact the certification body.",
);
pub const DEVICE_MISMATCH_FAKE: Text = t(
    "注意：本机核验与登记系统的结论不一致。本机核验签名通过，但登记系统认为标志不是正品。请以更严格的结论为准：勿信任该标志，并联系认证机构。",
    "Warning: the check on this device disagrees with the registry. This device verified the signature, but the registry says the mark is not genuine. Take the stricter answer: do not trust the mark, and contact the certification body.",
);

/// A string with its `{}` filled by values in order, as HTML: the string's own text is a
/// [`Phrase`], plain by construction, and each value renders as itself (text escaped, markup a
/// template made kept).
pub struct Filled<'a> {
    template: Phrase,
    values: &'a [&'a dyn Render],
}

/// Fills the `{}` of `template` with `values` in order; a `{}` without a value stays empty.
pub fn fill<'a>(template: Phrase, values: &'a [&'a dyn Render]) -> Filled<'a> {
    Filled { template, values }
}

impl Render for Filled<'_> {
    fn render_to(&self, out: &mut String) {
        let mut values = self.values.iter();
        let mut parts = self.template.as_str().split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for part in parts {
            if let Some(value) = values.next() {
                value.render_to(out);
            }
            out.push_str(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::Lang;

    #[test]
    fn fill_puts_values_in_order() {
        assert_eq!(
            fill(Lang::En.t(CHECKS_VALUE), &[&"3", &"today"]).render().0,
            "Checked from 3 different networks since today (each network and browser counted once a day)"
        );
        assert_eq!(fill(Lang::Zh.t(VALIDITY_RANGE), &[&"a", &"b"]).render().0, "a 至 b");
        assert_eq!(fill(Lang::En.t(t("no holes", "no holes")), &[&"x"]).render().0, "no holes");
    }

    #[test]
    fn fill_escapes_text_and_keeps_markup() {
        let markup = maud::html! { b { "<x>" } };
        assert_eq!(
            fill(Lang::En.t(t("a {} {}", "a {} {}")), &[&"<script>'\"&", &markup]).render().0,
            "a &lt;script&gt;'&quot;&amp; <b>&lt;x&gt;</b>"
        );
    }

    #[test]
    fn both_languages_take_the_same_values() {
        for text in [
            VALIDITY_RANGE,
            ISSUER_VALUE,
            CHECKS_VALUE,
            CHECKS_ONCE,
            CHECKS_AT_LEAST,
            MARK_REVOKED_VALUE,
            CLAIMED_VALUE,
            STATUS_SINCE,
            DETAIL_SUSPENDED,
            DETAIL_MARK_REVOKED,
            DETAIL_NO_CERTIFICATE,
            DETAIL_SERIAL_NOT_ISSUED,
            NOTE_LEVEL,
            NOTE_VALIDITY,
            REPORT_BODY,
            REPORT_12315,
            SUSPICIOUS,
        ] {
            assert_eq!(text.get(Lang::Zh).matches("{}").count(), text.get(Lang::En).matches("{}").count(), "{text:?}");
        }
    }
}
