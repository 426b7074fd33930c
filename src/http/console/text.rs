//! The console's strings, in both languages like every page's (see `pages::i18n`).

use crate::domain::StaffRole;
use crate::http::pages::i18n::{t, Text};

pub const CONSOLE: Text = t("认证机构控制台", "Certification body console");
pub const NAV_LABEL: Text = t("控制台导航", "Console navigation");
pub const HOME: Text = t("首页", "Home");
pub const PUBLIC_SITE: Text = t("公开查询", "Public registry");
pub const SIGN_OUT: Text = t("退出登录", "Sign out");

pub const LOGIN_TITLE: Text = t("工作人员登录", "Staff sign-in");
pub const USERNAME: Text = t("用户名", "Username");
pub const PASSWORD: Text = t("密码", "Password");
pub const SIGN_IN: Text = t("登录", "Sign in");
pub const BAD_CREDENTIALS: Text = t("用户名或密码错误。", "The username or the password is wrong.");
pub const DISABLED: Text = t("此账号已停用，请联系管理员。", "This account is disabled; ask an administrator.");
pub const THROTTLED: Text =
    t("失败次数过多，请稍后再试。等待秒数：", "Too many failed attempts. Try again in seconds:");
pub const SESSION_ENDED: Text = t("会话已结束，请重新登录。", "Your session has ended; sign in again.");
pub const SIGNED_OUT: Text = t("您已退出登录。", "You are signed out.");
pub const UNAVAILABLE: Text =
    t("服务暂时不可用，请稍后再试。", "The service is unavailable right now; try again shortly.");
pub const FORM_REFUSED: Text = t(
    "表单已失效或来自其他网站，未执行任何操作。请重新打开页面后再提交。",
    "This form is out of date or came from another site; nothing was done. Open the page again and resend it.",
);

pub const CODE_TITLE: Text = t("两步验证", "Two-step verification");
pub const CODE_HELP: Text =
    t("请输入身份验证器应用中显示的 6 位验证码。", "Type the 6-digit code your authenticator app shows.");
pub const CODE: Text = t("验证码", "Code");
pub const VERIFY: Text = t("验证", "Verify");
pub const CODE_REFUSED: Text = t("验证码错误或已过期。", "The code is wrong or too old.");
pub const CODE_REUSED: Text =
    t("此验证码已使用过，请等待下一个验证码。", "This code was used already; wait for the next one.");

pub const ENROL_TITLE: Text = t("设置身份验证器", "Set up an authenticator");
pub const ENROL_HELP: Text = t(
    "您的角色需要两步验证。请用身份验证器应用扫描二维码（或手动输入密钥），然后输入应用显示的第一个验证码。",
    "Your role needs two-step verification. Scan the QR code with an authenticator app (or type the key by hand), then type the first code it shows.",
);
pub const ENROL_QR_LABEL: Text = t("身份验证器设置二维码", "Authenticator set-up QR code");
pub const ENROL_KEY: Text = t("手动输入的密钥", "Key to type by hand");
pub const CONFIRM: Text = t("确认", "Confirm");

pub const HOME_TITLE: Text = t("控制台", "Console");
pub const SIGNED_IN_AS: Text = t("当前登录：", "Signed in as ");
pub const ROLE: Text = t("角色", "Role");
pub const SECOND_FACTOR: Text = t("两步验证", "Two-step verification");
pub const ON: Text = t("已启用", "on");
pub const OFF: Text = t("未启用", "off");
pub const QUEUE_LATER: Text = t("待办事项将显示在这里。", "The work queue will be shown here.");

/// A role's name for people.
pub fn role_name(role: StaffRole) -> Text {
    match role {
        StaffRole::Evaluator => t("评价员", "Evaluator"),
        StaffRole::Decider => t("认证决定人员", "Certification decision-maker"),
        StaffRole::Marks => t("标志管理员", "Mark officer"),
        StaffRole::Auditor => t("审核查阅员", "Auditor (read only)"),
        StaffRole::Admin => t("管理员", "Administrator"),
    }
}
