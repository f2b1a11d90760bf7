//! The web console's files pages, in a real server (and headless Chromium where they run in one).
//! The request page's files card: upload through the console form (the Privacy API's upload
//! code, limits and rules), download, delete, and the subject's download of the same file
//! through the Site API once the request is resolved.
use crate::both;
use crate::common::*;
use crate::console::{
    csrf_of, member, narrow, no_serious_violations, notice_of, owner, owner_tab, submit_and_wait,
};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

both!(
    files_are_uploaded_downloaded_and_deleted_from_the_request_page,
    refused_uploads_show_the_message_and_store_nothing,
    viewers_download_but_cannot_upload_or_delete,
    the_files_card_works_in_a_browser
);

fn part(name: &str, bytes: Vec<u8>, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

/// How many objects the file store holds.
fn stored_objects(s: &Server) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&s.dir.path().join("files"))
}

async fn api_files(s: &Server, id: &str) -> Vec<String> {
    let (_, cr) = s
        .get(&format!("{}/{id}", s.project_path("/compliance-requests")))
        .await;
    cr["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fileName"].as_str().unwrap().to_string())
        .collect()
}

fn page_path(s: &Server, id: &str) -> String {
    format!("/console/o/{}/p/{}/requests/{id}", s.org, s.project)
}

/// A request the subject can read through the Site API: its site session token too.
pub(crate) async fn request_with_session(s: &Server) -> (Value, String) {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let cr = s
        .create_request(json!({"request": "view", "userEmail": email, "preverified": true}))
        .await;
    let (status, session) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", s.project)))
            .json(&json!({"concordId": cr["concordId"]})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    (cr, session["session"].as_str().unwrap().to_string())
}

async fn files_are_uploaded_downloaded_and_deleted_from_the_request_page(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let (cr, token) = request_with_session(&s).await;
    let id = cr["id"].as_str().unwrap();
    let path = page_path(&s, id);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No files."), "{}", page.body);
    assert!(page.body.contains(r#"enctype="multipart/form-data""#));
    let csrf = csrf_of(&page.body);
    // Two files through the console's upload form, the token in the multipart body.
    let form = Form::new()
        .text("csrf", csrf.clone())
        .part(
            "file",
            part("export.txt", b"your data".to_vec(), "text/plain"),
        )
        .part(
            "file",
            part("extra.csv", b"a,b\n1,2\n".to_vec(), "text/csv"),
        );
    let a = owner.multipart(&format!("{path}/files"), form).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Uploaded 2 files."), "{}", a.body);
    assert!(a
        .body
        .contains(&format!(r#"href="{path}/files/export.txt""#)));
    assert!(a.body.contains("9 B"), "the size is shown: {}", a.body);
    assert!(a.body.contains("text/csv"));
    assert_eq!(api_files(&s, id).await, ["export.txt", "extra.csv"]);
    assert_eq!(stored_objects(&s), 2);
    // The download streams the bytes with the media type the API answers.
    let res = owner.fetch(&format!("{path}/files/export.txt")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"export.txt\""));
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"your data");
    let res = owner.fetch(&format!("{path}/files/nope.txt")).await;
    assert_eq!(res.status(), 404);
    // Delete one: the row, the record and the bytes go.
    let a = owner
        .post(
            &format!("{path}/files/extra.csv/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Deleted extra.csv."));
    assert!(!a.body.contains(r#"files/extra.csv""#), "{}", a.body);
    assert_eq!(api_files(&s, id).await, ["export.txt"]);
    assert_eq!(stored_objects(&s), 1);
    // Without the session's token nothing is deleted.
    let a = owner
        .post(
            &format!("{path}/files/export.txt/delete"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(api_files(&s, id).await, ["export.txt"]);
    // Resolved from the page: the subject downloads the same file through the Site API.
    let a = owner
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "resolve"),
                ("resolutionStatus", "completed"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let res = s
        .client
        .get(s.url(&format!(
            "/site-v1/{}/compliance-requests/{id}/files/export.txt",
            s.project
        )))
        .header("x-session", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"your data");
}

async fn refused_uploads_show_the_message_and_store_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let path = page_path(&s, id);
    let csrf = csrf_of(&owner.get(&path).await.body);
    let upload = format!("{path}/files");
    // Too large: a good file first, then one byte over the limit; neither is kept.
    let limit = accord_core::compliance::MAX_FILE_BYTES as usize;
    let form = Form::new()
        .text("csrf", csrf.clone())
        .part("file", part("ok.txt", b"fine".to_vec(), "text/plain"))
        .part(
            "file",
            part("big.bin", vec![7u8; limit + 1], "application/pdf"),
        );
    let a = owner.multipart(&upload, form).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    assert!(
        a.body
            .contains("file &#x27;big.bin&#x27; exceeds the maximum size of 10485760 bytes")
            || a.body
                .contains("file &#39;big.bin&#39; exceeds the maximum size of 10485760 bytes"),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"id="file-error""#));
    assert!(api_files(&s, id).await.is_empty());
    assert_eq!(stored_objects(&s), 0, "no orphan bytes");
    // Too many files at once.
    let mut eleven = Form::new().text("csrf", csrf.clone());
    for i in 0..11 {
        eleven = eleven.part(
            "file",
            part(&format!("f{i}.txt"), b"x".to_vec(), "text/plain"),
        );
    }
    let a = owner.multipart(&upload, eleven).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body
            .contains("body/file must NOT have more than 10 items"),
        "{}",
        a.body
    );
    assert!(api_files(&s, id).await.is_empty());
    assert_eq!(stored_objects(&s), 0);
    // A file name the API refuses, and the file input left empty.
    let form = Form::new()
        .text("csrf", csrf.clone())
        .part("file", part("..hidden", b"x".to_vec(), "text/plain"));
    let a = owner.multipart(&upload, form).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body
            .contains("body/file/fileName must NOT contain &#x27;..&#x27;")
            || a.body
                .contains("body/file/fileName must NOT contain &#39;..&#39;"),
        "{}",
        a.body
    );
    let form = Form::new()
        .text("csrf", csrf.clone())
        .part("file", part("", Vec::new(), "application/octet-stream"));
    let a = owner.multipart(&upload, form).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body
            .contains("body must have required property &#x27;file&#x27;")
            || a.body
                .contains("body must have required property &#39;file&#39;"),
        "{}",
        a.body
    );
    // A name already on the request: the API's 422.
    let one = |csrf: &str| {
        Form::new()
            .text("csrf", csrf.to_string())
            .part("file", part("a.txt", b"x".to_vec(), "text/plain"))
    };
    assert_eq!(owner.multipart(&upload, one(&csrf)).await.status, 200);
    let a = owner.multipart(&upload, one(&csrf)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("already exists on this compliance request"));
    assert_eq!(stored_objects(&s), 1);
    // Without the token, with a forged one, or with the token after the files: refused
    // before any byte is stored.
    let no_token = Form::new().part("file", part("b.txt", b"x".to_vec(), "text/plain"));
    assert_eq!(owner.multipart(&upload, no_token).await.status, 403);
    assert_eq!(owner.multipart(&upload, one("forged")).await.status, 403);
    let late = Form::new()
        .part("file", part("c.txt", b"x".to_vec(), "text/plain"))
        .text("csrf", csrf.clone());
    assert_eq!(owner.multipart(&upload, late).await.status, 403);
    assert_eq!(api_files(&s, id).await, ["a.txt"]);
    assert_eq!(stored_objects(&s), 1);
}

async fn viewers_download_but_cannot_upload_or_delete(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let (status, _) = send(
        s.req(
            reqwest::Method::POST,
            &s.project_path(&format!("/compliance-requests/{id}/files")),
        )
        .multipart(Form::new().part(
            "file",
            part("report.pdf", b"%PDF".to_vec(), "application/pdf"),
        )),
    )
    .await;
    assert_eq!(status, 201);
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let path = page_path(&s, id);
    let page = viewer.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("report.pdf"));
    assert!(!page.body.contains("/delete\""), "no delete button");
    assert!(!page.body.contains(r#"type="file""#), "no upload form");
    let res = viewer.fetch(&format!("{path}/files/report.pdf")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF");
    // Forms made by hand, with the session's own token, are refused.
    let csrf = csrf_of(&page.body);
    let form = Form::new()
        .text("csrf", csrf.clone())
        .part("file", part("x.txt", b"x".to_vec(), "text/plain"));
    assert_eq!(
        viewer
            .multipart(&format!("{path}/files"), form)
            .await
            .status,
        403
    );
    let a = viewer
        .post(
            &format!("{path}/files/report.pdf/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(api_files(&s, id).await, ["report.pdf"]);
    assert_eq!(stored_objects(&s), 1);
    // Another organization's request is closed, whatever the URL.
    let (_, other) = s
        .post("/privacy-v1/organizations", json!({"name": "Other"}))
        .await;
    let other_org = other["id"].as_str().unwrap();
    let res = viewer
        .fetch(&format!(
            "/console/o/{other_org}/p/{}/requests/{id}/files/report.pdf",
            s.project
        ))
        .await;
    assert_eq!(res.status(), 403);
}

async fn the_files_card_works_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let (status, _) = send(
        s.req(
            reqwest::Method::POST,
            &s.project_path(&format!("/compliance-requests/{id}/files")),
        )
        .multipart(
            Form::new()
                .part(
                    "file",
                    part("export.pdf", vec![b'%'; 48_000], "application/pdf"),
                )
                .part(
                    "file",
                    part("letter.txt", b"Dear Ada".to_vec(), "text/plain"),
                ),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let tab = owner_tab(&browser, &s).await;
    let path = page_path(&s, id);
    tab.goto(&s.url(&path)).await;
    // A file chosen in the browser's file input and sent with the form's button.
    let local = s.dir.path().join("notes.txt");
    std::fs::write(&local, "Chosen in the browser").unwrap();
    let input = tab.page.find_element("#file").await.unwrap();
    tab.page
        .execute(
            chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams {
                files: vec![local.to_string_lossy().into_owned()],
                node_id: None,
                backend_node_id: Some(input.backend_node_id),
                object_id: None,
            },
        )
        .await
        .unwrap();
    send_upload(&tab, &path).await;
    let notice = notice_of(&tab).await;
    assert_eq!(notice, "Uploaded 1 file.");
    assert_eq!(
        api_files(&s, id).await,
        ["export.pdf", "letter.txt", "notes.txt"]
    );
    tab.goto(&s.url(&path)).await;
    no_serious_violations(&tab, &axe_js, "request files").await;
    tab.eval("document.getElementById('files-h').scrollIntoView(); true")
        .await;
    tab.screenshot("console-request-files").await;
    // Sent with no file chosen: the contract's message beside the file input, nothing stored.
    send_upload(&tab, &path).await;
    let error = tab
        .eval("document.getElementById('file-error').innerText")
        .await;
    assert_eq!(error, "body must have required property 'file'");
    assert_eq!(
        tab.eval("document.getElementById('file').getAttribute('aria-describedby')")
            .await,
        "file-error"
    );
    no_serious_violations(&tab, &axe_js, "request files refused").await;
    tab.eval("document.getElementById('files-h').scrollIntoView(); true")
        .await;
    tab.screenshot("console-request-files-error").await;
    assert_eq!(api_files(&s, id).await.len(), 3);
    // On a narrow screen the table and the form fit the width.
    narrow(&tab).await;
    tab.goto(&s.url(&path)).await;
    let wide = tab
        .eval(
            "const card = document.getElementById('files-h').parentElement; \
             document.documentElement.scrollWidth <= window.innerWidth \
             && card.scrollWidth <= card.clientWidth",
        )
        .await;
    assert_eq!(wide, json!(true), "the request page fits 390 px");
    tab.eval("document.getElementById('files-h').scrollIntoView(); true")
        .await;
    tab.screenshot("console-request-files-narrow").await;
    browser.close().await;
}

/// Sends the request page's upload form (open in `tab` at `path`) and waits for the answer.
async fn send_upload(tab: &crate::browser::Tab, path: &str) {
    submit_and_wait(
        tab,
        "document.querySelector('form.upload').requestSubmit();",
        &format!("{path}/files"),
    )
    .await;
}
