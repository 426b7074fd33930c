//! Every page string in both languages. A [`Text`] cannot exist in one language only, so no
//! page can be "complete in Chinese, half English".

use super::Lang;

/// One string in Chinese and English.
#[derive(Clone, Copy, Debug)]
pub struct Text {
    pub zh: &'static str,
    pub en: &'static str,
}

/// Shorthand for the tables below.
pub const fn t(zh: &'static str, en: &'static str) -> Text {
    Text { zh, en }
}

impl Text {
    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.zh,
            Lang::En => self.en,
        }
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
pub const API_DOCS: Text = t("接口", "API");

/// A certificate state's name.
pub fn state_name(state: crate::domain::State) -> Text {
    use crate::domain::State;
    match state {
        State::Valid => t("有效", "Valid"),
        State::Suspended => t("暂停", "Suspended"),
        State::Revoked => t("撤销", "Revoked"),
        State::Withdrawn => t("注销", "Withdrawn"),
        State::Expired => t("过期失效", "Expired"),
    }
}

/// A level's name as printed on certificates and marks.
pub fn level_name(level: crate::domain::Level) -> Text {
    use crate::domain::Level;
    match level {
        Level::Compliant => t("达标级", "Compliant"),
        Level::ThreeStar => t("三星级", "Three-star"),
        Level::FourStar => t("四星级", "Four-star"),
        Level::FiveStar => t("五星级", "Five-star"),
    }
}

// Outcomes of a look-up that found no certificate.
pub const NOT_FOUND: Text = t("未找到", "Not found");
pub const MALFORMED: Text = t("格式错误", "Malformed");
