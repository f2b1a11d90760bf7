//! What a scan reads in a page: the elements that load something (`script`, `iframe`,
//! `img`, `link`), inline scripts in document order, and the page's links. Parsed with
//! lol_html's spec tokenizer, so script text and malformed markup are read as a browser
//! reads them.
use lol_html::html_content::{Element, TextChunk};
use lol_html::{element, text, HtmlRewriter, MemorySettings, Settings};
use std::cell::RefCell;
use url::Url;

/// One thing of a page, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `<script src>`, `<iframe src>`, `<img src>` or `<link href>`, resolved against the
    /// page's base URL.
    Load {
        tag: &'static str,
        url: Url,
        /// `async` or `defer` on a script.
        deferred: bool,
    },
    /// The text of a `<script>` without `src`.
    Inline(String),
}

/// A parsed page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// `<a href>` targets (http and https only, without fragment), in order.
    pub links: Vec<Url>,
}

#[derive(Default)]
struct State {
    base: Option<Url>,
    page: Page,
    in_inline_script: bool,
}

fn resolve(state: &State, page_url: &Url, raw: &str) -> Option<Url> {
    let base = state.base.as_ref().unwrap_or(page_url);
    let mut u = base.join(raw.trim()).ok()?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return None;
    }
    u.set_fragment(None);
    Some(u)
}

/// Parses `html` fetched from `page_url`. Markup that cannot be parsed ends the parse
/// where it is; what was read up to there is kept.
pub fn parse(page_url: &Url, html: &[u8]) -> Page {
    let state = RefCell::new(State::default());
    let load = |tag: &'static str, attr: &'static str| {
        let state = &state;
        move |el: &mut Element| {
            let mut s = state.borrow_mut();
            if tag == "script" {
                s.in_inline_script = !el.has_attribute("src");
                if s.in_inline_script {
                    s.page.items.push(Item::Inline(String::new()));
                    return Ok(());
                }
            }
            if let Some(url) = el
                .get_attribute(attr)
                .and_then(|v| resolve(&s, page_url, &v))
            {
                let deferred =
                    tag == "script" && (el.has_attribute("async") || el.has_attribute("defer"));
                s.page.items.push(Item::Load { tag, url, deferred });
            }
            Ok(())
        }
    };
    let handlers = vec![
        element!("base[href]", |el| {
            let mut s = state.borrow_mut();
            if s.base.is_none() {
                if let Some(u) = el
                    .get_attribute("href")
                    .and_then(|v| page_url.join(&v).ok())
                {
                    s.base = Some(u);
                }
            }
            Ok(())
        }),
        element!("script", load("script", "src")),
        element!("iframe[src]", load("iframe", "src")),
        element!("img[src]", load("img", "src")),
        element!("link[href]", load("link", "href")),
        element!("a[href]", |el| {
            let mut s = state.borrow_mut();
            if let Some(u) = el
                .get_attribute("href")
                .and_then(|v| resolve(&s, page_url, &v))
            {
                s.page.links.push(u);
            }
            Ok(())
        }),
        text!("script", |t: &mut TextChunk| {
            let mut s = state.borrow_mut();
            if s.in_inline_script {
                if let Some(Item::Inline(text)) = s.page.items.last_mut() {
                    text.push_str(t.as_str());
                }
            }
            Ok(())
        }),
    ];
    // Not strict: a page whose markup a browser would read in more than one way is read as
    // a browser reads it most of the time rather than refused.
    let settings = handlers.into_iter().fold(
        Settings::new().with_strict(false).with_memory_settings(
            MemorySettings::new().with_max_allowed_memory_usage(16 * 1024 * 1024),
        ),
        Settings::append_element_content_handler,
    );
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let parsed = rewriter.write(html).and_then(|()| rewriter.end());
    if let Err(e) = parsed {
        tracing::debug!(url = %page_url, error = %e, "page parsed in part");
    }
    state.into_inner().page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loads_inline_scripts_and_links_in_order() {
        let base = Url::parse("https://example.com/a/").unwrap();
        let html = br#"<!doctype html><html><head>
            <script>if (a < b) { gtag('consent','default',{}); } document.write("<img src='x'>")</script>
            <script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
            <link rel=stylesheet href="/s.css#x">
            </head><body><img src="img.png"><iframe src="//video.example.net/e"></iframe>
            <a href="page2#top">2</a><a href="mailto:x@y.z">m</a><img src="data:image/png;base64,AA==">
            <script src="javascript:alert(1)"></script><p <<< unclosed"#;
        let page = parse(&base, html);
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            page.items,
            vec![
                Item::Inline(
                    "if (a < b) { gtag('consent','default',{}); } document.write(\"<img src='x'>\")"
                        .into()
                ),
                Item::Load {
                    tag: "script",
                    url: u("https://www.googletagmanager.com/gtag/js?id=G-1"),
                    deferred: true
                },
                Item::Load {
                    tag: "link",
                    url: u("https://example.com/s.css"),
                    deferred: false
                },
                Item::Load {
                    tag: "img",
                    url: u("https://example.com/a/img.png"),
                    deferred: false
                },
                Item::Load {
                    tag: "iframe",
                    url: u("https://video.example.net/e"),
                    deferred: false
                },
            ]
        );
        assert_eq!(page.links, vec![u("https://example.com/a/page2")]);
    }

    #[test]
    fn a_base_element_moves_relative_urls() {
        let page_url = Url::parse("https://example.com/").unwrap();
        let page = parse(
            &page_url,
            br#"<base href="https://cdn.example.org/x/"><script src="t.js"></script>"#,
        );
        assert_eq!(
            page.items,
            vec![Item::Load {
                tag: "script",
                url: Url::parse("https://cdn.example.org/x/t.js").unwrap(),
                deferred: false
            }]
        );
    }
}
