//! Sign-on provider settings (SPEC §13), read from the environment.

/// Sign-on providers (SPEC §13), each on when its variables are set and `MEDCLAIM_PUBLIC_URL`
/// (the external base URL, for service and redirect URLs) is known.
#[derive(Clone, Debug, Default)]
pub struct SsoSettings {
    /// e.g. `https://claims.example.edu`, without a trailing slash.
    pub public_url: Option<String>,
    pub cas: Option<CasSettings>,
    pub oidc: Option<OidcSettings>,
    pub wechat: Option<WechatSettings>,
    /// `MEDCLAIM_SSO_CREATE_STUDENTS=1`: an unknown campus id becomes a student (role student only).
    pub create_students: bool,
}

#[derive(Clone, Debug)]
pub struct CasSettings {
    /// e.g. `https://cas.example.edu/cas`.
    pub url: String,
    /// The attribute carrying the student/staff id; `None`: the CAS `user`.
    pub id_attribute: Option<String>,
}

#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub id_claim: String,
}

#[derive(Clone, Debug)]
pub struct WechatSettings {
    pub appid: String,
    pub secret: String,
    pub oauth_url: String,
    pub api_url: String,
}

impl SsoSettings {
    pub fn from_env() -> SsoSettings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let trim = |s: String| s.trim().trim_end_matches('/').to_string();
        let public_url = var("MEDCLAIM_PUBLIC_URL").map(trim);
        let cas = var("MEDCLAIM_CAS_URL").map(|url| CasSettings {
            url: trim(url),
            id_attribute: var("MEDCLAIM_CAS_ID_ATTRIBUTE"),
        });
        let oidc = match (
            var("MEDCLAIM_OIDC_ISSUER"),
            var("MEDCLAIM_OIDC_CLIENT_ID"),
            var("MEDCLAIM_OIDC_CLIENT_SECRET"),
        ) {
            (Some(issuer), Some(client_id), Some(client_secret)) => Some(OidcSettings {
                issuer: trim(issuer),
                client_id,
                client_secret,
                id_claim: var("MEDCLAIM_OIDC_ID_CLAIM")
                    .unwrap_or_else(|| "preferred_username".into()),
            }),
            _ => None,
        };
        let wechat = match (var("MEDCLAIM_WECHAT_APPID"), var("MEDCLAIM_WECHAT_SECRET")) {
            (Some(appid), Some(secret)) => Some(WechatSettings {
                appid,
                secret,
                oauth_url: trim(
                    var("MEDCLAIM_WECHAT_OAUTH_URL")
                        .unwrap_or_else(|| "https://open.weixin.qq.com".into()),
                ),
                api_url: trim(
                    var("MEDCLAIM_WECHAT_API_URL")
                        .unwrap_or_else(|| "https://api.weixin.qq.com".into()),
                ),
            }),
            _ => None,
        };
        SsoSettings {
            public_url,
            cas,
            oidc,
            wechat,
            create_students: var("MEDCLAIM_SSO_CREATE_STUDENTS")
                .is_some_and(|v| v == "1" || v == "true"),
        }
    }

    /// The configured CAS server, when sign-on can run at all.
    pub fn cas(&self) -> Option<&CasSettings> {
        self.public_url.as_ref().and(self.cas.as_ref())
    }
    pub fn oidc(&self) -> Option<&OidcSettings> {
        self.public_url.as_ref().and(self.oidc.as_ref())
    }
    pub fn wechat(&self) -> Option<&WechatSettings> {
        self.public_url.as_ref().and(self.wechat.as_ref())
    }
    /// A campus sign-on (CAS or OpenID Connect) is configured: students come in through it, so
    /// self-service activation is off.
    pub fn campus(&self) -> bool {
        self.cas().is_some() || self.oidc().is_some()
    }
    /// An absolute URL of ours for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_deref().unwrap_or(""))
    }
}
