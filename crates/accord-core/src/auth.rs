//! API keys and roles (§2): secrets, digests, and the effective role of a key on an
//! organization or a project.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Roles, weakest first so that `>=` reads as "at least".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    None,
    Viewer,
    Limited,
    Admin,
    Owner,
}

impl Role {
    pub const NAMES: &'static [&'static str] = &["owner", "admin", "limited", "viewer", "none"];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Viewer => "viewer",
            Role::Limited => "limited",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "none" => Role::None,
            "viewer" => Role::Viewer,
            "limited" => Role::Limited,
            "admin" => Role::Admin,
            "owner" => Role::Owner,
            _ => return None,
        })
    }
}

/// One permission entry of a key: a role on a project, or an organization-level role on
/// another organization when `project_id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Option<Uuid>,
    pub role: Role,
}

/// The authenticated caller of the Privacy API.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: Uuid,
    pub home_organization_id: Uuid,
    pub role: Role,
    pub permissions: Vec<Permission>,
}

impl Principal {
    /// Organization-level role (§2.3).
    pub fn org_role(&self, org: Uuid) -> Role {
        if org == self.home_organization_id {
            return self.role;
        }
        self.permissions
            .iter()
            .find(|p| p.organization_id == org && p.project_id.is_none())
            .map(|p| p.role)
            .unwrap_or(Role::None)
    }

    /// Effective role on a project of `org`: its permission entry, else the organization role.
    pub fn project_role(&self, org: Uuid, project: Uuid) -> Role {
        self.permissions
            .iter()
            .find(|p| p.project_id == Some(project))
            .map(|p| p.role)
            .unwrap_or_else(|| self.org_role(org))
    }

    /// True when the key has any role ≥ viewer in `org` or one of its projects (`projects`).
    pub fn has_any_access(&self, org: Uuid, projects: &[Uuid]) -> bool {
        self.org_role(org) >= Role::Viewer
            || projects
                .iter()
                .any(|p| self.project_role(org, *p) >= Role::Viewer)
    }
}

/// A freshly generated secret with its stored forms.
pub struct NewSecret {
    pub secret: String,
    pub digest: String,
    pub prefix: String,
}

/// `ak_` followed by 43 base64url characters (32 random bytes).
pub fn generate_api_key() -> NewSecret {
    generate_secret("ak_")
}

/// A secret with the given prefix and 32 random bytes.
pub fn generate_secret(prefix: &str) -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    NewSecret {
        digest: digest(&secret),
        prefix: secret.chars().take(7).collect(),
        secret,
    }
}

/// Lowercase hex SHA-256, the only stored form of a secret.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The display form of a key outside its create response.
pub fn masked(prefix: &str) -> String {
    format!("{prefix}****")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let k = generate_api_key();
        assert_eq!(k.secret.len(), 46);
        assert!(k.secret.starts_with("ak_"));
        assert_eq!(k.prefix.len(), 7);
        assert!(digests_equal(&digest(&k.secret), &k.digest));
    }

    #[test]
    fn project_entry_overrides_in_both_directions() {
        let org = Uuid::now_v7();
        let (p1, p2) = (Uuid::now_v7(), Uuid::now_v7());
        let pr = Principal {
            key_id: Uuid::now_v7(),
            home_organization_id: org,
            role: Role::Admin,
            permissions: vec![Permission {
                id: Uuid::now_v7(),
                organization_id: org,
                project_id: Some(p1),
                role: Role::Viewer,
            }],
        };
        assert_eq!(pr.project_role(org, p1), Role::Viewer);
        assert_eq!(pr.project_role(org, p2), Role::Admin);
        assert_eq!(pr.org_role(Uuid::now_v7()), Role::None);
    }
}
