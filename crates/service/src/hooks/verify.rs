//! The signature schemes of webhook deliveries, checked over the raw body in constant time.
//!
//! | forge | header | value |
//! | --- | --- | --- |
//! | GitHub | `X-Hub-Signature-256` | `sha256=` + hex HMAC-SHA256 of the body, keyed by the secret |
//! | Gitea, Forgejo | `X-Forgejo-Signature`, `X-Gitea-Signature` (else `X-Hub-Signature-256`) | bare hex HMAC-SHA256 |
//! | GitLab | `X-Gitlab-Token` | the secret itself |
//!
//! HMACs are compared with [`hmac::Mac::verify_slice`] (constant time, through `subtle`);
//! a GitLab token is compared as SHA-256 digests with [`subtle::ConstantTimeEq`], so that
//! neither its bytes nor its length shows in the time taken.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The length of an HMAC-SHA256, in bytes.
const MAC_LEN: usize = 32;

/// The longest token read from `X-Gitlab-Token`, in bytes (GitLab allows far less).
const TOKEN_MAX: usize = 1024;

/// Which scheme a forge signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    GitHub,
    /// `X-Forgejo-Signature` / `X-Gitea-Signature: <hex>`, else the GitHub header.
    Gitea,
    /// `X-Gitlab-Token: <secret>`.
    GitLab,
}

/// What a delivery presents as its proof.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Presented {
    /// An HMAC-SHA256 of the body.
    Mac([u8; MAC_LEN]),
    /// The SHA-256 of a shared token (GitLab).
    TokenDigest([u8; 32]),
}

// Never print what was presented: a GitLab token is the secret itself.
impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Presented::Mac(_) => "Presented::Mac(..)",
            Presented::TokenDigest(_) => "Presented::TokenDigest(..)",
        })
    }
}

/// Why a delivery's proof is unusable (each is a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsigned {
    /// No signature header.
    Missing,
    /// A header that is not of the scheme's form (wrong prefix, not hex, wrong length).
    Malformed,
}

impl Unsigned {
    /// The reason given to the sender (names the header, never its value).
    pub(crate) fn reason(self, scheme: Scheme) -> String {
        let header = match scheme {
            Scheme::GitHub => "X-Hub-Signature-256",
            Scheme::Gitea => "X-Gitea-Signature (or X-Forgejo-Signature, X-Hub-Signature-256)",
            Scheme::GitLab => "X-Gitlab-Token",
        };
        match self {
            Unsigned::Missing => format!("missing {header}"),
            Unsigned::Malformed => format!("malformed {header}"),
        }
    }
}

/// Reads the proof a delivery presents under `scheme`.
pub(crate) fn presented(scheme: Scheme, headers: &HeaderMap) -> Result<Presented, Unsigned> {
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    match scheme {
        Scheme::GitHub => github_header(header("x-hub-signature-256")),
        Scheme::Gitea => {
            match header("x-forgejo-signature").or_else(|| header("x-gitea-signature")) {
                Some(v) => hex_mac(v).map(Presented::Mac),
                None => github_header(header("x-hub-signature-256")),
            }
        }
        Scheme::GitLab => match header("x-gitlab-token") {
            None => Err(Unsigned::Missing),
            Some([]) => Err(Unsigned::Missing),
            Some(v) if v.len() > TOKEN_MAX => Err(Unsigned::Malformed),
            Some(v) => Ok(Presented::TokenDigest(Sha256::digest(v).into())),
        },
    }
}

fn github_header(value: Option<&[u8]>) -> Result<Presented, Unsigned> {
    let value = value.ok_or(Unsigned::Missing)?;
    let hex = value.strip_prefix(b"sha256=").ok_or(Unsigned::Malformed)?;
    hex_mac(hex).map(Presented::Mac)
}

/// Decodes exactly 64 hex digits (either case; surrounding spaces allowed).
fn hex_mac(text: &[u8]) -> Result<[u8; MAC_LEN], Unsigned> {
    let text = text.trim_ascii();
    if text.len() != MAC_LEN * 2 {
        return Err(Unsigned::Malformed);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; MAC_LEN];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let (Some(hi), Some(lo)) = (digit(pair[0]), digit(pair[1])) else {
            return Err(Unsigned::Malformed);
        };
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

/// Whether `proof` was made with `secret` for `body`, compared in constant time.
pub(crate) fn matches(proof: &Presented, body: &[u8], secret: &[u8]) -> bool {
    match proof {
        Presented::Mac(mac) => {
            let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
                return false;
            };
            m.update(body);
            m.verify_slice(mac).is_ok()
        }
        Presented::TokenDigest(digest) => {
            let ours: [u8; 32] = Sha256::digest(secret).into();
            bool::from(ours.ct_eq(digest))
        }
    }
}

/// `sha256=<hex>` of `body` under `secret`: what GitHub sends (tests, benchmarks, and the
/// documentation's example).
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex_hmac(secret, body))
}

/// The bare hex HMAC-SHA256 of `body` under `secret`: what Gitea and Forgejo send.
pub fn hex_hmac(secret: &[u8], body: &[u8]) -> String {
    // A key of any length is accepted by HMAC; `new_from_slice` cannot fail for it.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const GH_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn check(
        scheme: Scheme,
        pairs: &[(&'static str, &str)],
        body: &[u8],
        secret: &[u8],
    ) -> Result<bool, Unsigned> {
        presented(scheme, &headers(pairs)).map(|p| matches(&p, body, secret))
    }

    #[test]
    fn githubs_documented_vector() {
        assert_eq!(github_signature(GH_SECRET, GH_BODY), GH_SIG);
        let sig = [("x-hub-signature-256", GH_SIG)];
        assert_eq!(check(Scheme::GitHub, &sig, GH_BODY, GH_SECRET), Ok(true));
        // Upper-case hex is the same MAC.
        let upper = format!("sha256={}", GH_SIG[7..].to_ascii_uppercase());
        let sig = [("x-hub-signature-256", upper.as_str())];
        assert_eq!(check(Scheme::GitHub, &sig, GH_BODY, GH_SECRET), Ok(true));
    }

    #[test]
    fn github_bad_missing_truncated() {
        let sig = [("x-hub-signature-256", GH_SIG)];
        // Another body, another secret: no match.
        assert_eq!(
            check(Scheme::GitHub, &sig, b"Hello, World?", GH_SECRET),
            Ok(false)
        );
        assert_eq!(
            check(Scheme::GitHub, &sig, GH_BODY, b"It's a secret to everybody"),
            Ok(false)
        );
        // One digit changed.
        let flipped = format!("{}0", &GH_SIG[..GH_SIG.len() - 1]);
        let sig = [("x-hub-signature-256", flipped.as_str())];
        assert_eq!(check(Scheme::GitHub, &sig, GH_BODY, GH_SECRET), Ok(false));
        // Missing, truncated, wrong prefix, bare hex, not hex, too long.
        assert_eq!(
            check(Scheme::GitHub, &[], GH_BODY, GH_SECRET),
            Err(Unsigned::Missing)
        );
        for bad in [
            &GH_SIG[..GH_SIG.len() - 2],
            &GH_SIG[..7],
            "sha256=",
            &GH_SIG[7..],
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            &format!("{GH_SIG}00"),
        ] {
            let sig = [("x-hub-signature-256", bad)];
            assert_eq!(
                check(Scheme::GitHub, &sig, GH_BODY, GH_SECRET),
                Err(Unsigned::Malformed),
                "{bad}"
            );
        }
        // Gitea's header is not GitHub's.
        let sig = [("x-gitea-signature", &GH_SIG[7..])];
        assert_eq!(
            check(Scheme::GitHub, &sig, GH_BODY, GH_SECRET),
            Err(Unsigned::Missing)
        );
    }

    #[test]
    fn gitea_and_forgejo() {
        let hex = hex_hmac(GH_SECRET, GH_BODY);
        assert_eq!(hex, &GH_SIG[7..]);
        for header in ["x-gitea-signature", "x-forgejo-signature"] {
            let sig = [(header, hex.as_str())];
            assert_eq!(check(Scheme::Gitea, &sig, GH_BODY, GH_SECRET), Ok(true));
            assert_eq!(check(Scheme::Gitea, &sig, b"other", GH_SECRET), Ok(false));
            assert_eq!(check(Scheme::Gitea, &sig, GH_BODY, b"other"), Ok(false));
            let short = [(header, &hex[..63])];
            assert_eq!(
                check(Scheme::Gitea, &short, GH_BODY, GH_SECRET),
                Err(Unsigned::Malformed)
            );
            let prefixed = format!("sha256={hex}");
            let prefixed = [(header, prefixed.as_str())];
            assert_eq!(
                check(Scheme::Gitea, &prefixed, GH_BODY, GH_SECRET),
                Err(Unsigned::Malformed)
            );
        }
        // They also send GitHub's header, which is enough alone.
        let sig = [("x-hub-signature-256", GH_SIG)];
        assert_eq!(check(Scheme::Gitea, &sig, GH_BODY, GH_SECRET), Ok(true));
        // Their own header wins over GitHub's: a bad one is not rescued by a good one.
        let both = [
            ("x-gitea-signature", "00".repeat(32)),
            ("x-hub-signature-256", GH_SIG.to_owned()),
        ];
        let both: Vec<(&'static str, &str)> = both.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(check(Scheme::Gitea, &both, GH_BODY, GH_SECRET), Ok(false));
        assert_eq!(
            check(Scheme::Gitea, &[], GH_BODY, GH_SECRET),
            Err(Unsigned::Missing)
        );
    }

    #[test]
    fn gitlab_token() {
        let secret = b"gitlab-hook-secret";
        let good = [("x-gitlab-token", "gitlab-hook-secret")];
        assert_eq!(check(Scheme::GitLab, &good, b"{}", secret), Ok(true));
        // The body does not matter to a token.
        assert_eq!(check(Scheme::GitLab, &good, b"anything", secret), Ok(true));
        for bad in [
            "gitlab-hook-secreT",
            "gitlab-hook-secre",
            "gitlab-hook-secret ",
            "x",
        ] {
            let h = [("x-gitlab-token", bad)];
            assert_eq!(check(Scheme::GitLab, &h, b"{}", secret), Ok(false), "{bad}");
        }
        assert_eq!(
            check(Scheme::GitLab, &[], b"{}", secret),
            Err(Unsigned::Missing)
        );
        assert_eq!(
            check(Scheme::GitLab, &[("x-gitlab-token", "")], b"{}", secret),
            Err(Unsigned::Missing)
        );
        let long = "a".repeat(TOKEN_MAX + 1);
        assert_eq!(
            check(
                Scheme::GitLab,
                &[("x-gitlab-token", long.as_str())],
                b"{}",
                secret
            ),
            Err(Unsigned::Malformed)
        );
        // GitHub's header means nothing to GitLab.
        let sig = [("x-hub-signature-256", GH_SIG)];
        assert_eq!(
            check(Scheme::GitLab, &sig, GH_BODY, GH_SECRET),
            Err(Unsigned::Missing)
        );
    }

    #[test]
    fn what_was_presented_is_never_printed() {
        let p = presented(
            Scheme::GitLab,
            &headers(&[("x-gitlab-token", "s3cr3t-value")]),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("s3cr3t"));
        assert!(!Unsigned::Malformed
            .reason(Scheme::GitLab)
            .contains("s3cr3t"));
    }
}
