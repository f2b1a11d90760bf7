//! The GCM checks of a page (§8.4), read from its parsed items in document order.
use crate::html::{Item, Page};
use accord_core::gcm::{self, GcmContext, GcmIssue};

fn compact(script: &str) -> String {
    script
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '"' || c == '`' { '\'' } else { c })
        .collect()
}

fn calls_consent(script: &str, command: &str) -> bool {
    compact(script).contains(&format!("gtag('consent','{command}'"))
}

fn is_google_tag(item: &Item) -> bool {
    match item {
        Item::Load {
            tag: "script", url, ..
        } => {
            let path = url.path();
            url.host_str() == Some("www.googletagmanager.com")
                && (path.starts_with("/gtag/js") || path.starts_with("/gtm.js"))
                || path.ends_with("/gtag.js")
                || path.ends_with("/gtm.js")
        }
        Item::Inline(text) => text.contains("googletagmanager.com/gtm.js"),
        _ => false,
    }
}

/// The issues of `page` for the project of `ctx`; none means it passed.
pub fn check(page: &Page, ctx: &GcmContext) -> Vec<GcmIssue> {
    let client_path = gcm::site_client_path(ctx.project_id);
    let site_client = page.items.iter().position(
        |i| matches!(i, Item::Load { tag: "script", url, .. } if url.path() == client_path),
    );
    let client_deferred =
        site_client.is_some_and(|n| matches!(page.items[n], Item::Load { deferred: true, .. }));
    let inline = |command: &str| {
        page.items
            .iter()
            .position(|i| matches!(i, Item::Inline(t) if calls_consent(t, command)))
    };
    let default_call = inline("default");
    let update_call = inline("update");
    let google_tag = page.items.iter().position(is_google_tag);
    let first_default = match (site_client, default_call) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut issues = Vec::new();
    if first_default.is_none() {
        issues.push(GcmIssue::new(
            gcm::DEFAULT_CONSENT_NOT_SET,
            "the page has neither the project's site client nor an inline gtag('consent', 'default', …) call",
        ));
    }
    if client_deferred {
        issues.push(GcmIssue::new(
            gcm::DEFAULT_CONSENT_TOO_LATE,
            "the site client is loaded with async or defer, so Google tags may run before the consent defaults are set",
        ));
    } else if let (Some(tag), Some(default)) = (google_tag, first_default) {
        if tag < default {
            issues.push(GcmIssue::new(
                gcm::DEFAULT_CONSENT_TOO_LATE,
                "a Google tag appears before the consent defaults are set",
            ));
        }
    }
    if site_client.is_none() && update_call.is_none() {
        issues.push(GcmIssue::new(
            gcm::CONSENT_NOT_UPDATED,
            "the page has neither the project's site client nor an inline gtag('consent', 'update', …) call",
        ));
    }
    if google_tag.is_some() && ctx.gcm_disabled {
        issues.push(GcmIssue::new(
            gcm::CONSENT_TAB_EMPTY,
            "the page loads Google tags while the project's Default region has Google Consent Mode disabled",
        ));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;
    use uuid::Uuid;

    fn codes(html: &str, disabled: bool) -> Vec<String> {
        let ctx = GcmContext {
            project_id: Uuid::nil(),
            gcm_disabled: disabled,
        };
        let page = crate::html::parse(
            &Url::parse("https://example.com/").unwrap(),
            html.as_bytes(),
        );
        check(&page, &ctx).into_iter().map(|i| i.code).collect()
    }

    const CLIENT: &str = r#"<script src="https://privacy.example.com/site-v1/00000000-0000-0000-0000-000000000000/site-client"></script>"#;
    const GTAG: &str =
        r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>"#;

    #[test]
    fn the_site_client_before_google_tags_passes() {
        assert!(codes(&format!("{CLIENT}{GTAG}"), false).is_empty());
    }

    #[test]
    fn inline_calls_pass_when_first() {
        let html = format!(
            "<script>gtag( \"consent\", \"default\", {{}}); gtag('consent','update',{{}})</script>{GTAG}"
        );
        assert!(codes(&html, false).is_empty());
    }

    #[test]
    fn each_issue() {
        assert_eq!(
            codes(GTAG, true),
            vec![
                gcm::DEFAULT_CONSENT_NOT_SET,
                gcm::CONSENT_NOT_UPDATED,
                gcm::CONSENT_TAB_EMPTY
            ]
        );
        assert_eq!(
            codes(&format!("{GTAG}{CLIENT}"), false),
            vec![gcm::DEFAULT_CONSENT_TOO_LATE]
        );
        let deferred = CLIENT.replace("<script ", "<script defer ");
        assert_eq!(codes(&deferred, false), vec![gcm::DEFAULT_CONSENT_TOO_LATE]);
        let gtm = "<script>(function(w,d,s,l,i){j.src='https://www.googletagmanager.com/gtm.js?id='+i})()</script>";
        assert_eq!(
            codes(
                &format!("{gtm}<script>gtag('consent','default',{{}})</script>"),
                false
            ),
            vec![gcm::DEFAULT_CONSENT_TOO_LATE, gcm::CONSENT_NOT_UPDATED]
        );
        // Another project's site client is not this project's.
        let other = CLIENT.replace(
            "00000000-0000-0000-0000-000000000000",
            "11111111-1111-1111-1111-111111111111",
        );
        assert_eq!(
            codes(&other, false),
            vec![gcm::DEFAULT_CONSENT_NOT_SET, gcm::CONSENT_NOT_UPDATED]
        );
    }
}
