//! Policies of an organization (§7.9): the bodies and their rules, the stored policy and its
//! published view, the list filters, and the `html` every write regenerates from the
//! answers, every answer HTML-escaped.
use crate::admin::{contains_ci, SortKey};
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use uuid::Uuid;

pub const POLICY_TYPES: &[&str] = &["aiPolicy", "cookiePolicy", "privacyPolicy"];
pub const POLICY_STATUSES: &[&str] = &["active", "draft", "archived"];
pub const POLICY_SORTS: &[&str] = &["dateCreated", "dateUpdated", "name"];

/// The 422 of an `organizationId` other than the path's.
pub const ORGANIZATION_MISMATCH: &str = "organizationId must be the organization of the path";

/// One answer of a policy's questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Answer {
    /// Id of the question answered (1 to 128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub question_id: String,
    /// The answer text (at most 10000 characters), HTML-escaped into `html`.
    #[schemars(length(max = 10000))]
    pub answer: String,
}

crate::body! {
    /// One entry of `answers`.
    pub struct AnswerBody {
        /// Id of the question answered (1 to 128 characters).
        question_id: String => "questionId": string().min(1).max(128).non_empty().s(),
        /// The answer text (at most 10000 characters); rendered HTML-escaped, line breaks as
        /// paragraphs.
        answer: String => "answer": string().max(10_000).s(),
    }
}

fn answers_schema() -> Schema {
    Schema::Array {
        items: Box::new(Schema::Object(Object {
            props: AnswerBody::props(),
            required: vec!["questionId", "answer"],
            ..Default::default()
        })),
        min: None,
        max: None,
        unique: false,
    }
}

crate::body! {
    /// The create and PATCH body of a policy (§7.9).
    pub struct PolicyBody {
        /// Kind of policy: `aiPolicy`, `cookiePolicy` or `privacyPolicy` (required on create).
        policy_type: Option<String> => "type": string().one_of(POLICY_TYPES).s(),
        /// Name of the policy (1 to 256 characters, required on create): the heading of `html`.
        name: Option<String> => "name": string().min(1).max(256).non_empty().s(),
        /// `active`, `draft` or `archived` (required on create).
        status: Option<String> => "status": string().one_of(POLICY_STATUSES).s(),
        /// Description of the policy (at most 2048 characters).
        description: Option<String> => "description": string().max(2048).s(),
        /// The organization of the policy (required on create).
        organization_id: Option<Uuid> => "organizationId": string()
            .format(Format::Uuid)
            .non_empty()
            .describe("the organization of the path (422 otherwise)")
            .s(),
        /// The questionnaire answers the policy text is rendered from (required on create; a
        /// PATCH replaces them all).
        answers: Option<Vec<AnswerBody>> => "answers": answers_schema(),
        /// Projects the policy covers; with `includeCookies`, their trackers are listed in
        /// `html`.
        associated_projects: Option<Vec<Uuid>> => "associatedProjects": Schema::Array {
            items: Box::new(string()
                .format(Format::Uuid)
                .non_empty()
                .describe("a project of the organization (422 otherwise)")
                .s()),
            min: None,
            max: None,
            unique: false,
        },
        /// Whether `html` ends with a table of the associated projects' trackers by category;
        /// default `false`.
        include_cookies: Option<bool> => "includeCookies": Schema::Bool,
    }
}

/// `POST …/policies`.
pub fn create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: PolicyBody::props(),
            required: vec!["type", "name", "status", "organizationId", "answers"],
            ..Default::default()
        })
    })
}

/// `PATCH …/policies/{policyId}`: the same fields, all optional.
pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: PolicyBody::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub policy_type: String,
    pub name: String,
    pub status: String,
    pub description: Option<String>,
    pub answers: Vec<Answer>,
    pub html: String,
    pub associated_projects: Vec<Uuid>,
    pub include_cookies: bool,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The Policy object of §7.9.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PolicyView {
    /// Policy id (UUID).
    pub id: Uuid,
    /// Kind of policy: `aiPolicy`, `cookiePolicy` or `privacyPolicy`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["aiPolicy", "cookiePolicy", "privacyPolicy"]))]
    pub policy_type: String,
    /// Name of the policy.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// `active`, `draft` or `archived`.
    #[schemars(extend("enum" = ["active", "draft", "archived"]))]
    pub status: String,
    /// Description of the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    /// The organization of the policy.
    pub organization_id: Uuid,
    /// The questionnaire answers, in the order given.
    pub answers: Vec<Answer>,
    /// The policy as HTML, regenerated on every write: an `<article>` with the name as `<h1>`,
    /// one `<section data-question-id>` per answer (HTML-escaped) and, with `includeCookies`,
    /// the trackers table.
    pub html: String,
    /// Ids of the projects the policy covers.
    pub associated_projects: Vec<Uuid>,
    /// Whether `html` lists the associated projects' trackers.
    pub include_cookies: bool,
    /// When the policy was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the policy last changed, in epoch milliseconds.
    pub date_updated: i64,
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> Self {
        PolicyView {
            id: p.id,
            policy_type: p.policy_type.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
            description: p.description.clone(),
            organization_id: p.organization_id,
            answers: p.answers.clone(),
            html: p.html.clone(),
            associated_projects: p.associated_projects.clone(),
            include_cookies: p.include_cookies,
            date_created: p.date_created,
            date_updated: p.date_updated,
        }
    }
}

/// One tracker of an associated project, as the cookie table of a policy lists it
/// ([`crate::trackers::cookie_entries`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CookieEntry {
    pub category: String,
    pub name: String,
    pub company: Option<String>,
    pub domain: Option<String>,
    pub kind: Option<String>,
    pub expiration: Option<String>,
}

/// Text made inert in HTML, in element content and in quoted attribute values alike.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// The `html` of a policy (§7.9): an `<article>` with the name as `<h1>`, one
/// `<section data-question-id="…">` per answer holding one `<p>` per non-blank line of the
/// answer, and, when `includeCookies`, the `cookies` grouped by category in one table per
/// category. Every text is HTML-escaped.
pub fn render_html(p: &Policy, cookies: &[CookieEntry]) -> String {
    let mut h = String::from("<article>");
    h.push_str(&format!("<h1>{}</h1>", escape_html(&p.name)));
    for a in &p.answers {
        h.push_str(&format!(
            "<section data-question-id=\"{}\">",
            escape_html(&a.question_id)
        ));
        for line in a
            .answer
            .split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
        {
            h.push_str(&format!("<p>{}</p>", escape_html(line)));
        }
        h.push_str("</section>");
    }
    if p.include_cookies && !cookies.is_empty() {
        let mut categories: Vec<&str> = cookies.iter().map(|c| c.category.as_str()).collect();
        categories.sort_unstable();
        categories.dedup();
        h.push_str("<section data-cookies=\"true\">");
        for cat in categories {
            h.push_str(&format!(
                "<h2>{}</h2><table><thead><tr><th>Name</th><th>Company</th><th>Domain</th><th>Type</th><th>Expiration</th></tr></thead><tbody>",
                escape_html(cat)
            ));
            for c in cookies.iter().filter(|c| c.category == cat) {
                let cell = |v: &Option<String>| escape_html(v.as_deref().unwrap_or(""));
                h.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape_html(&c.name),
                    cell(&c.company),
                    cell(&c.domain),
                    cell(&c.kind),
                    cell(&c.expiration)
                ));
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("</section>");
    }
    h.push_str("</article>");
    h
}

fn answers(input: &[AnswerBody]) -> Vec<Answer> {
    input
        .iter()
        .map(|a| Answer {
            question_id: a.question_id.clone(),
            answer: a.answer.clone(),
        })
        .collect()
}

fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    out
}

/// The semantic rules of a body (422): `organizationId` is the path's, and every
/// associated project is one of `org_projects`.
pub fn check_refs(b: &PolicyBody, org: Uuid, org_projects: &[Uuid]) -> Result<()> {
    if b.organization_id.is_some_and(|o| o != org) {
        return Err(Error::unprocessable(ORGANIZATION_MISMATCH));
    }
    if let Some(ids) = &b.associated_projects {
        if let Some(i) = ids.iter().position(|p| !org_projects.contains(p)) {
            return Err(Error::unprocessable(format!(
                "associatedProjects/{i} not found in this organization"
            )));
        }
    }
    Ok(())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|v| !v.is_empty())
}

/// A new policy from a validated create body whose references were checked. `html` is
/// rendered by the caller.
pub fn new_policy(b: &PolicyBody, id: Uuid, org: Uuid, now: i64) -> Policy {
    Policy {
        id,
        organization_id: org,
        policy_type: b.policy_type.clone().unwrap_or_default(),
        name: b.name.clone().unwrap_or_default(),
        status: b.status.clone().unwrap_or_default(),
        description: non_empty(&b.description),
        answers: b.answers.as_deref().map(answers).unwrap_or_default(),
        html: String::new(),
        associated_projects: dedup(b.associated_projects.as_deref().unwrap_or_default()),
        include_cookies: b.include_cookies.unwrap_or(false),
        date_created: now,
        date_updated: now,
    }
}

/// Applies a validated PATCH body whose references were checked; `""` clears `description`.
pub fn apply_patch(p: &mut Policy, b: &PolicyBody, now: i64) {
    if let Some(t) = &b.policy_type {
        p.policy_type = t.clone();
    }
    if let Some(n) = &b.name {
        p.name = n.clone();
    }
    if let Some(s) = &b.status {
        p.status = s.clone();
    }
    if b.description.is_some() {
        p.description = non_empty(&b.description);
    }
    if let Some(a) = &b.answers {
        p.answers = answers(a);
    }
    if let Some(ids) = &b.associated_projects {
        p.associated_projects = dedup(ids);
    }
    if let Some(c) = b.include_cookies {
        p.include_cookies = c;
    }
    p.date_updated = now.max(p.date_updated);
}

/// The filters of the policy list (§7.9).
#[derive(Debug, Clone, Default)]
pub struct PolicyFilter {
    pub policy_type: Option<Vec<String>>,
    pub status: Option<Vec<String>>,
    pub name: Option<String>,
}

impl PolicyFilter {
    pub fn matches(&self, p: &Policy) -> bool {
        self.policy_type
            .as_ref()
            .is_none_or(|t| t.contains(&p.policy_type))
            && self.status.as_ref().is_none_or(|s| s.contains(&p.status))
            && self.name.as_deref().is_none_or(|n| contains_ci(&p.name, n))
    }
}

/// The sort value of a policy in the list.
pub fn sort_key(p: &Policy, sort: &str) -> SortKey {
    match sort {
        "name" => SortKey::Text(p.name.clone()),
        "dateUpdated" => SortKey::Int(p.date_updated),
        _ => SortKey::Int(p.date_created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(answers: &[(&str, &str)]) -> Policy {
        Policy {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            policy_type: "privacyPolicy".into(),
            name: "Privacy <b>& co</b>".into(),
            status: "draft".into(),
            description: None,
            answers: answers
                .iter()
                .map(|(q, a)| Answer {
                    question_id: q.to_string(),
                    answer: a.to_string(),
                })
                .collect(),
            html: String::new(),
            associated_projects: vec![],
            include_cookies: false,
            date_created: 0,
            date_updated: 0,
        }
    }

    #[test]
    fn answers_are_escaped_and_split_into_paragraphs() {
        let p = policy(&[
            ("q\"1", "<script>alert('x')</script>\r\n\nsecond & last"),
            ("q2", ""),
        ]);
        assert_eq!(
            render_html(&p, &[]),
            "<article><h1>Privacy &lt;b&gt;&amp; co&lt;/b&gt;</h1>\
             <section data-question-id=\"q&quot;1\"><p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p><p>second &amp; last</p></section>\
             <section data-question-id=\"q2\"></section></article>"
        );
    }

    #[test]
    fn cookie_table_only_with_include_cookies() {
        let mut p = policy(&[]);
        let cookies = [CookieEntry {
            category: "analytics".into(),
            name: "<_ga>".into(),
            company: Some("Google".into()),
            domain: None,
            kind: Some("cookie".into()),
            expiration: Some("2 years".into()),
        }];
        assert!(!render_html(&p, &cookies).contains("<table>"));
        p.include_cookies = true;
        let h = render_html(&p, &cookies);
        assert!(h.contains("<h2>analytics</h2><table>"));
        assert!(h.contains("<td>&lt;_ga&gt;</td><td>Google</td><td></td><td>cookie</td>"));
    }
}
