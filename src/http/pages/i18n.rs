//! Every page string in both languages. A [`Text`] cannot exist in one language only, so no
//! page can be "complete in Chinese, half English", and it cannot hold a character that HTML
//! reads as markup (checked when it is compiled), so pages write it as it is.

use maud::Render;

use super::Lang;

/// One string in Chinese and English; made only by [`t`].
#[derive(Clone, Copy, Debug)]
pub struct Text {
    zh: &'static str,
    en: &'static str,
}

/// Shorthand for the tables below. Refuses, at compile time for a constant, a string with `<`,
/// `>`, `&` or `"`: what [`Phrase`] relies on to be written unescaped.
pub const fn t(zh: &'static str, en: &'static str) -> Text {
    assert!(is_plain(zh) && is_plain(en), "page strings hold no HTML: no <, >, & or \"");
    Text { zh, en }
}

/// Whether `text` reads the same as HTML text and inside a double-quoted attribute.
const fn is_plain(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'<' | b'>' | b'&' | b'"') {
            return false;
        }
        i += 1;
    }
    true
}

impl Text {
    /// The string in `lang`, as plain text (escaped where it is rendered).
    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
    }
}

/// A page string in one language, for a template. It renders without escaping: [`t`] let no
/// character in that HTML would read as markup, so escaping would copy it unchanged, only slower
/// (these strings are most of a page's text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phrase(&'static str);

impl Phrase {
    /// The string itself, for where it is not HTML.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl Render for Phrase {
    fn render_to(&self, out: &mut String) {
        out.push_str(self.0);
    }
}

impl Lang {
    /// `text` in this language, for a template.
    pub fn t(self, text: Text) -> Phrase {
        Phrase(text.get(self))
    }
}

// The frame of every page.
pub const SITE_NAME: Text = t("商品售后服务认证查询", "After-sales Service Certification Registry");
pub const SKIP_TO_CONTENT: Text = t("跳到正文", "Skip to content");
pub const NAV_SEARCH: Text = t("证书查询", "Search");
pub const NAV_BULK: Text = t("批量核验", "Bulk verification");
pub const NAV_LABEL: Text = t("主导航", "Main navigation");
pub const SWITCH_LANGUAGE: Text = t("English", "中文");
pub const SWITCH_LANGUAGE_LABEL: Text = t("Switch to English", "切换到中文");
pub const FOOTER: Text = t(
    "依据 GB/T 27922-2011《商品售后服务评价体系》开展的认证。记录均经数字签名并写入透明日志。",
    "Certification under GB/T 27922-2011 (commodity after-sales service evaluation). Every record is digitally signed and written to a transparency log.",
);
pub const DATA_AS_OF: Text = t("数据时间", "Data as of");
pub const TRUST_LIST: Text = t("公钥列表", "Trust list");
pub const LOG: Text = t("透明日志", "Transparency log");

/// A certificate state's name.
pub fn state_name(state: crate::domain::State) -> Text {
    use crate::domain::State;
    match state {
        State::Valid => const { t("有效", "Valid") },
        State::Suspended => const { t("暂停", "Suspended") },
        State::Revoked => const { t("撤销", "Revoked") },
        State::Withdrawn => const { t("注销", "Withdrawn") },
        State::Expired => const { t("过期失效", "Expired") },
    }
}

/// A level's name as printed on certificates and marks.
pub fn level_name(level: crate::domain::Level) -> Text {
    use crate::domain::Level;
    match level {
        Level::Compliant => const { t("达标级", "Compliant") },
        Level::ThreeStar => const { t("三星级", "Three-star") },
        Level::FourStar => const { t("四星级", "Four-star") },
        Level::FiveStar => const { t("五星级", "Five-star") },
    }
}

// Outcomes of a look-up that found no certificate.
pub const NOT_FOUND: Text = t("未找到", "Not found");
pub const FOUND: Text = t("已找到", "Found");
pub const OUTCOME: Text = t("查询结果", "Outcome");
/// After a label: full-width in Chinese.
pub const COLON: Text = t("：", ": ");
pub const MALFORMED: Text = t("格式错误", "Malformed");

// Search page.
pub const SEARCH_TITLE: Text = t("证书查询", "Search certificates");
pub const SEARCH_INTRO: Text = t(
    "输入证书编号、统一社会信用代码或企业名称（可只输入一部分），按等级和状态筛选。",
    "Enter a certificate number, a unified social credit code (USCC) or part of a company name, and filter by level and state.",
);
pub const SEARCH_FIELD: Text = t("证书编号、统一社会信用代码或企业名称", "Certificate number, USCC or company name");
pub const LEVEL: Text = t("认证等级", "Level");
pub const STATE: Text = t("证书状态", "State");
pub const ANY: Text = t("全部", "Any");
pub const SEARCH_BUTTON: Text = t("查询", "Search");
pub const RESULTS: Text = t("查询结果", "Results");
pub const NO_RESULTS: Text = t("没有符合条件的证书。", "No certificate matches.");
pub const NEXT_PAGE: Text = t("下一页", "Next page");
pub const FIRST_PAGE: Text = t("回到第一页", "First page");
pub const SHOWING: Text = t("本页显示", "Shown on this page");
pub const BUSY: Text = t(
    "现在申请回执的人太多，请稍候片刻再试。",
    "Too many receipts are being requested right now; please try again in a moment.",
);
pub const BAD_QUERY: Text = t("查询条件有误", "The query cannot be used");
pub const STATUS_UNAVAILABLE: Text = t(
    "暂时无法读取证书状态，请稍后再试。在此期间请勿将任何证书视为有效。",
    "Certificate status cannot be read right now; try again shortly. Treat no certificate as valid meanwhile.",
);

pub const STATUS_UNCONFIRMED: Text = t(
    "无法确认该证书的状态：登记机构存储的记录与其透明日志不一致。请勿将其视为有效；登记机构已收到警报。",
    "The status of this certificate cannot be confirmed: the registry's stored record does not match its \
     transparency log. Do not treat it as valid; the registry has been alerted.",
);

// Certificate facts, on the search results, the certificate page and receipts.
pub const NUMBER: Text = t("证书编号", "Certificate number");
pub const HOLDER: Text = t("获证组织", "Certificate holder");
pub const USCC: Text = t("统一社会信用代码", "Unified social credit code");
pub const VALID_UNTIL: Text = t("有效期至", "Valid until");
pub const VALIDITY: Text = t("有效期", "Validity");
pub const SCOPE: Text = t("认证范围", "Scope");
pub const STANDARD: Text = t("认证依据", "Standard");
pub const SCORE: Text = t("评价得分", "Evaluation score");
pub const FIRST_ISSUED: Text = t("初次发证日期", "First issued");
pub const ISSUED: Text = t("本次发证日期", "Issued");
pub const ISSUER: Text = t("发证机构", "Issuing body");
pub const APPROVAL: Text = t("批准号", "Approval number");
pub const UNTIL_PREFIX: Text = t("，至 ", ", until ");
pub const REASON: Text = t("原因", "Reason");
pub const SURVEILLANCE: Text = t("监督审核", "Surveillance audits");
pub const SURVEILLANCE_PASSED: Text = t("通过", "Passed");
pub const SURVEILLANCE_NONCONFORMITIES: Text = t("有不符合项", "Nonconformities");
pub const SUSPENSION_OVERDUE: Text = t(
    "暂停期已过，认证机构尚未恢复或撤销该证书；在此之前证书仍然无效。",
    "The suspension has run out and the body has not yet reinstated or revoked the certificate; until it does, the certificate is not valid.",
);
pub const VERSION: Text = t("记录版本", "Record version");
pub const MACHINE_READABLE: Text = t("签名记录（JSON）", "Signed record (JSON)");
pub const HISTORY: Text = t("变更历史（JSON）", "History (JSON)");
pub const CERTIFICATE_NOT_FOUND: Text = t(
    "查无此证书。请核对证书编号；伪造的证书在本登记系统中查不到。",
    "No such certificate. Check the number: a forged certificate cannot be found in this registry.",
);

// Bulk verification page.
pub const BULK_TITLE: Text = t("批量核验", "Bulk verification");
pub const BULK_INTRO: Text = t(
    "粘贴或上传最多 1000 个统一社会信用代码或证书编号（每行一个，CSV 取第一列，可带表头），查看每一项当前的状态、等级和有效期。",
    "Paste or upload up to 1,000 unified social credit codes or certificate numbers (one per line; from a CSV the first column, a header line is fine) to see each one's current state, level and validity.",
);
pub const BULK_FIELD: Text = t("统一社会信用代码或证书编号，每行一个", "USCCs or certificate numbers, one per line");
pub const BULK_FILE: Text = t("或上传 CSV 文件", "Or upload a CSV file");
pub const BULK_FILE_HINT: Text = t("选择了文件时，以文件内容为准。", "When a file is chosen, its content is used.");
pub const BULK_CHECK: Text = t("核验", "Verify");
pub const BULK_CSV: Text = t("下载 CSV", "Download CSV");
pub const BULK_RECEIPT: Text = t("生成签名核验回执", "Get a signed receipt");
pub const BULK_EMPTY: Text =
    t("请输入至少一个统一社会信用代码或证书编号。", "Enter at least one USCC or certificate number.");
pub const BULK_TOO_MANY: Text = t("一次最多核验 1000 项，本次提交了", "At most 1,000 queries at a time; this list has");
pub const BULK_NOT_TEXT: Text = t(
    "上传的文件不是 CSV 文本（可能是 Excel 工作簿）。请在表格软件中另存为“CSV”后再上传。",
    "The uploaded file is not CSV text (perhaps an Excel workbook). Save it as “CSV” in your spreadsheet program and upload it again.",
);
pub const BULK_BAD_FORM: Text = t("无法读取提交的表单", "The form could not be read");
pub const BULK_SUMMARY: Text = t("核验汇总", "Summary");
pub const BULK_ROWS: Text = t("项查询", "queries");
pub const ROW: Text = t("行号", "Row");
pub const QUERY: Text = t("您查询的内容（原样照录）", "You asked for (as typed)");
pub const DETAIL: Text = t("说明", "Detail");
pub const CHECKED_AT: Text = t("核验时间", "Checked at");
pub const BULK_AGAIN: Text = t("用同一份清单", "With the same list");
pub const ROW_COUNT_LIVE: Text = t("行", "lines");

// Receipt page.
pub const RECEIPT_TITLE: Text = t("核验回执", "Verification receipt");
pub const RECEIPT_ID: Text = t("回执编号", "Receipt id");
pub const RECEIPT_ISSUED_AT: Text = t("核验时间", "Checked at");
pub const RECEIPT_REGISTRY: Text = t("登记系统", "Registry");
pub const RECEIPT_SIGNED_BY: Text = t("签名密钥", "Signing key");
pub const RECEIPT_GENUINE: Text = t(
    "签名有效：本回执由认证机构登记系统签发，内容未被改动。",
    "Signature valid: this receipt was issued by the registry and has not been altered.",
);
pub const RECEIPT_NOT_GENUINE: Text = t(
    "签名无效：本回执不是登记系统签发的，或已被改动。请勿采信。",
    "Signature NOT valid: this receipt was not issued by the registry or has been altered. Do not rely on it.",
);
pub const RECEIPT_UNCHANGED: Text = t("自核验以来，所列证书均无变化。", "Nothing listed has changed since the check.");
pub const RECEIPT_CHANGED: Text = t("自核验以来有变化：", "Changed since the check:");
pub const RECEIPT_NOW: Text = t("现为", "now");
pub const RECEIPT_WAS: Text = t("原为", "was");
pub const RECEIPT_QR: Text = t("扫码在线核对本回执", "Scan to check this receipt online");
pub const RECEIPT_SNAPSHOT: Text = t("核验时的状态", "State at the time of the check");
pub const RECEIPT_JSON: Text = t(
    "下载签名回执（JSON），可离线核对：starmark verify-receipt",
    "Download the signed receipt (JSON) to check offline: starmark verify-receipt",
);
pub const KEY_ACTIVE: Text = t("（当前签名密钥）", "(the active key)");
pub const KEY_RETIRED: Text = t("（已停用的旧密钥，签名仍然有效）", "(a retired key; its signatures still hold)");
pub const RECEIPT_NO_NUMBER: Text =
    t("请给出要核验的证书编号或统一社会信用代码。", "Give the certificate number or USCC to check.");
pub const RECEIPT_NOT_FOUND: Text = t("查无此回执。", "No such receipt.");
pub const RECEIPT_PRINT_HINT: Text =
    t("可直接打印本页作为核验记录。", "Print this page to keep as a record of the check.");
pub const RECEIPT_SINGLE: Text =
    t("为此证书生成签名核验回执", "Get a signed verification receipt for this certificate");
pub const MORE_FOUND: Text = t("另有已找到但未列出的证书：", "More certificates found but not listed: ");
pub const MORE_HINT: Text = t(
    "每行最多列出 10 张、每次核验最多列出 2,000 张；请单独核验或搜索这一项。",
    "at most 10 are listed per row and 2,000 per check; check this query on its own or search for it.",
);
pub const RECEIPT_PAGE: Text = t("第", "Page ");
pub const RECEIPT_PAGE_OF: Text = t("页，共", " of ");
pub const RECEIPT_PAGE_END: Text = t("页", "");
pub const RECEIPT_PREVIOUS: Text = t("上一页", "Previous page");
pub const RECEIPT_NEXT: Text = t("下一页", "Next page");
pub const RECEIPT_CHANGES_ELSEWHERE: Text =
    t("项变化在本回执的其他页。", "more change(s) are on other pages of this receipt.");
pub const RECEIPT_TOO_LARGE: Text = t(
    "本回执超出本登记系统现行的大小上限，无法在网页上显示。请下载签名回执（JSON），用 starmark verify-receipt 核对。",
    "This receipt is larger than this registry now allows and cannot be shown as a page. Download the signed receipt (JSON) and check it with starmark verify-receipt.",
);
pub const CERTIFICATE_COUNT: Text = t("证书数量", "Number of certificates");

// The change feed (`/changes.atom`).
pub const CHANGES_TITLE: Text = t("证书变更", "Certificate changes");
pub const RECORD_VERSION: Text = t("记录版本", "record version");
pub const LOG_INDEX: Text = t("日志序号", "log index");

/// What an event did, as a feed entry names it.
pub fn event_name(kind: crate::domain::EventKind) -> Text {
    use crate::domain::EventKind;
    match kind {
        EventKind::Issued => t("颁发", "issued"),
        EventKind::Suspended => t("暂停", "suspended"),
        EventKind::Reinstated => t("恢复", "reinstated"),
        EventKind::Revoked => t("撤销", "revoked"),
        EventKind::Withdrawn => t("注销", "withdrawn"),
        EventKind::Renewed => t("换证", "renewed"),
        EventKind::Surveillance => t("监督审核", "surveillance audit recorded"),
        EventKind::MarksOrdered => t("订购标志", "marks ordered"),
        EventKind::MarksRevoked => t("撤销标志", "marks revoked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_strings_hold_nothing_html_reads_as_markup() {
        assert!(is_plain("暂停 ‖ it's “CSV” ✔"));
        for markup in ["<b>", "a > b", "AT&T", "say \"x\""] {
            assert!(!is_plain(markup), "{markup}");
        }
        assert!(std::panic::catch_unwind(|| t("<b>", "b")).is_err(), "refused when made at run time too");
    }
}
