//! `starmark demo`: a ready-to-try registry. Creates a dev key and an admin token when there are
//! none, seeds certificates of every level and state into an empty store, prints what to try,
//! and serves.
//!
//! The admin token is kept in `<data dir>/demo-token` (mode 0600) so that a second run can print
//! it again; this file exists only in demo mode.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;

use super::Outcome;
use crate::config::Config;
use crate::crypto::keys;
use crate::domain::Role;
use crate::domain::{
    CertificateDraft, CertificateNumber, Evaluation, Holder, Points, StatusAction, SurveillanceAudit,
    SurveillanceOutcome, Uscc,
};
use crate::registry::{clock, Change, Registry};
use crate::startup::{shutdown_signal, Application};

const DEMO_ACTOR: &str = "cli:demo";

/// One demo company: number, names, USCC body (17 characters), scores, issue date, fate.
struct Seed {
    number: &'static str,
    name: &'static str,
    name_en: &'static str,
    uscc_body: &'static str,
    address: &'static str,
    scope: &'static str,
    scores: (u32, u32, u32),
    issued: Option<(i32, u32, u32)>,
    fate: Fate,
}

enum Fate {
    Valid,
    Surveilled,
    Suspended,
    Revoked,
    Withdrawn,
    Expired,
}

const SEEDS: &[Seed] = &[
    Seed {
        number: "SM2026ASC000001",
        name: "厦门海晟电器有限公司",
        name_en: "Xiamen Haisheng Electric Appliance Co., Ltd.",
        uscc_body: "91350200776049653",
        address: "福建省厦门市思明区湖滨南路100号",
        scope: "家用电器的销售及售后服务",
        scores: (39, 34, 24),
        issued: None,
        fate: Fate::Valid,
    },
    Seed {
        number: "SM2026ASC000002",
        name: "杭州云帆家居股份有限公司",
        name_en: "Hangzhou Yunfan Home Furnishing Co., Ltd.",
        uscc_body: "91330100MA27XK8Q3",
        address: "浙江省杭州市余杭区文一西路588号",
        scope: "定制家具的安装、维修及售后服务",
        scores: (37, 32, 22),
        issued: None,
        fate: Fate::Surveilled,
    },
    Seed {
        number: "SM2026ASC000003",
        name: "深圳市启明通信设备有限公司",
        name_en: "Shenzhen Qiming Communication Equipment Co., Ltd.",
        uscc_body: "91440300192241158",
        address: "广东省深圳市南山区科技园南区8栋",
        scope: "通信终端设备的售后服务",
        scores: (33, 29, 20),
        issued: None,
        fate: Fate::Valid,
    },
    Seed {
        number: "SM2026ASC000004",
        name: "成都锦程汽车服务有限公司",
        name_en: "",
        uscc_body: "91510100MA61R2TJ8",
        address: "四川省成都市武侯区天府大道中段1号",
        scope: "乘用车维修保养服务",
        scores: (29, 25, 17),
        issued: None,
        fate: Fate::Valid,
    },
    Seed {
        number: "SM2025ASC000017",
        name: "青岛北海制冷设备有限公司",
        name_en: "Qingdao Beihai Refrigeration Co., Ltd.",
        uscc_body: "91370200264589730",
        address: "山东省青岛市崂山区海尔路1号",
        scope: "商用制冷设备的安装及维修服务",
        scores: (36, 32, 23),
        issued: Some((2025, 3, 18)),
        fate: Fate::Suspended,
    },
    Seed {
        number: "SM2024ASC000203",
        name: "武汉长江电梯工程有限公司",
        name_en: "Wuhan Changjiang Elevator Engineering Co., Ltd.",
        uscc_body: "91420100300012587",
        address: "湖北省武汉市江汉区建设大道568号",
        scope: "电梯的安装、维保及售后服务",
        scores: (34, 28, 21),
        issued: Some((2024, 6, 3)),
        fate: Fate::Revoked,
    },
    Seed {
        number: "SM2024ASC000311",
        name: "南京紫金厨卫科技有限公司",
        name_en: "Nanjing Zijin Kitchen & Bath Technology Co., Ltd.",
        uscc_body: "91320100MA1MB7RW4",
        address: "江苏省南京市玄武区中山路18号",
        scope: "厨卫电器的安装及售后服务",
        scores: (38, 33, 24),
        issued: Some((2024, 9, 12)),
        fate: Fate::Withdrawn,
    },
    Seed {
        number: "SM2021ASC000045",
        name: "北京华信办公设备有限公司",
        name_en: "Beijing Huaxin Office Equipment Co., Ltd.",
        uscc_body: "91110108633652117",
        address: "北京市海淀区中关村大街27号",
        scope: "办公设备的销售及维修服务",
        scores: (35, 31, 22),
        issued: Some((2021, 5, 20)),
        fate: Fate::Expired,
    },
];

fn day((y, m, d): (i32, u32, u32)) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).context("bad demo date")
}

async fn seed(registry: &Registry) -> anyhow::Result<usize> {
    let today = clock::today();
    for seed in SEEDS {
        let (system, commodity, customer) = seed.scores;
        let draft = CertificateDraft {
            number: Some(CertificateNumber::parse(seed.number)?),
            holder: Holder {
                name: seed.name.to_string(),
                name_en: Some(seed.name_en.to_string()).filter(|n| !n.is_empty()),
                uscc: Uscc::with_check_character(seed.uscc_body)?,
                address: seed.address.to_string(),
            },
            scope: seed.scope.to_string(),
            evaluation: Evaluation {
                system: Points::whole(system),
                commodity: Points::whole(commodity),
                customer: Points::whole(customer),
                applicable: Points::whole(100),
                special_deductions: 0,
                special_bonus: false,
            },
            level: None,
            issued: seed.issued.map(day).transpose()?,
            first_issued: None,
        };
        let record = registry.issue(DEMO_ACTOR, draft).await?.record;
        let number = &record.number;
        let change = match seed.fate {
            Fate::Valid | Fate::Expired => None,
            Fate::Surveilled => Some(Change::Surveillance(SurveillanceAudit {
                date: today,
                outcome: SurveillanceOutcome::Passed,
                note: Some("年度监督审核通过".into()),
            })),
            Fate::Suspended => Some(Change::Status(StatusAction::Suspend {
                reason: "监督审核发现投诉处理不符合要求 / complaint handling nonconformity".into(),
                until: today + chrono::Days::new(90),
            })),
            Fate::Revoked => Some(Change::Status(StatusAction::Revoke {
                reason: "暂停期满未完成整改 / not corrected within the suspension".into(),
            })),
            Fate::Withdrawn => Some(Change::Status(StatusAction::Withdraw {
                reason: "持证方申请注销 / cancelled at the holder's request".into(),
            })),
        };
        if let Some(change) = change {
            registry.change(DEMO_ACTOR, number, &change).await?;
        }
    }
    Ok(SEEDS.len())
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(config: &Config) -> anyhow::Result<Outcome> {
    if !keys::has_private_key(&config.keys_dir)? {
        let key_id = keys::generate(&config.keys_dir)?;
        println!("created dev signing key {key_id} in {}", config.keys_dir.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let app = Application::build(config).await?;
    let registry = app.registry();
    if registry.count().await? == 0 {
        let seeded = seed(&registry).await?;
        println!("seeded {seeded} demo certificates covering every level and state");
    }
    let token_path = config.data_dir.join("demo-token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(text) => text.trim().to_string(),
        Err(_) => {
            let (_, token) = registry.create_token(Role::Admin, "demo admin token").await?;
            write_secret(&token_path, &token)?;
            token
        }
    };
    let base = format!("http://{}", app.local_addr()?);
    // The certificate-level mark of the first demo certificate, to open as a phone would.
    let first = crate::domain::CertificateNumber::parse("SM2026ASC000001")?;
    let scan = match registry.get(&first).await {
        Ok(certificate) => format!("{base}/v/{}", registry.mark_token(&certificate.record, 0, 0)?),
        Err(_) => format!("{base}/ (the first demo certificate is missing)"),
    };
    let until = clock::today() + chrono::Days::new(30);
    let banner = format!(
        "\nStarmark demo is answering on {base}\n\
         \x20 health:        {base}/healthz\n\
         \x20 trust list:    {base}/.well-known/starmark/keys.json\n\
         \x20 pages:         {base}/ (search), {base}/verify (bulk verification)\n\
         \x20 scan a mark:   {scan}\n\
         \x20 a certificate: {base}/api/v1/certificates/SM2026ASC000001\n\
         \x20 search:        {base}/api/v1/certificates?q=电器\n\
         \x20 expired one:   {base}/api/v1/certificates/SM2021ASC000045\n\
         \x20 admin token:   {token}\n\
         \x20 try:           curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n\
         \x20                  -d '{{\"action\":\"suspend\",\"reason\":\"test\",\"until\":\"{until}\"}}' \\\n\
         \x20                  {base}/api/v1/certificates/SM2026ASC000003/status\n\
         Press Ctrl-C to stop.\n"
    );
    // Written once and errors ignored: a closed stdout must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(banner.as_bytes()).and_then(|()| stdout.flush());
    app.run_until(shutdown_signal()).await?;
    Ok(Outcome::Done)
}
