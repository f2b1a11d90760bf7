//! §3.8: multipart upload, download and delete of response files.
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::Value;

both!(
    upload_download_delete,
    upload_rules,
    upload_media_type_and_sizes,
    pending_requests_take_no_files,
    viewers_read_but_do_not_write,
    every_allowed_name_is_stored,
    extended_and_refused_names,
    empty_files_are_files,
    large_bodies_share_a_memory_budget,
    dense_json_counts_its_parsed_values,
    an_abandoned_upload_leaves_no_bytes,
    files_under_earlier_keys_stay_readable
);

fn part(name: &str, bytes: Vec<u8>, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(mime)
        .unwrap()
}

async fn upload(s: &Server, key: &str, id: &str, form: Form) -> (u16, Value) {
    send(
        s.req_as(
            key,
            Method::POST,
            &s.project_path(&format!("/compliance-requests/{id}/files")),
        )
        .multipart(form),
    )
    .await
}

fn stored_files(s: &Server) -> usize {
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

async fn upload_download_delete(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let form = Form::new()
        .part(
            "file",
            part("report.pdf", b"%PDF-1.4 hello".to_vec(), "application/pdf"),
        )
        .part(
            "file",
            part("data export.csv", b"a,b\n1,2\n".to_vec(), "text/csv"),
        );
    let (status, up) = upload(&s, &s.key, id, form).await;
    assert_eq!(status, 201, "{up}");
    check_schema(
        &accord_api::openapi::compliance_request_schema(),
        &up,
        "upload",
    )
    .unwrap();
    let files = up["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["fileName"], "report.pdf");
    assert_eq!(files[0]["fileSize"], 14);
    assert_eq!(files[0]["details"], "application/pdf");
    assert_eq!(files[0]["event"], "file_uploaded");
    assert_eq!(
        files[1]["filePath"],
        s.project_path(&format!(
            "/compliance-requests/{id}/files/data%20export.csv"
        ))
    );
    let day = 86_400_000i64;
    assert_eq!(
        up["filePurgeDate"].as_i64().unwrap(),
        files[0]["date"].as_i64().unwrap() + 90 * day
    );
    assert_eq!(stored_files(&s), 2);

    let res = s
        .req(Method::GET, files[1]["filePath"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"data export.csv\"; filename*=UTF-8''data%20export.csv"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");

    let (status, after) = s
        .delete(&s.project_path(&format!("/compliance-requests/{id}/files/report.pdf")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(after["files"].as_array().unwrap().len(), 1);
    assert!(after["filePurgeDate"].is_i64());
    assert_error(
        &s.delete(&s.project_path(&format!("/compliance-requests/{id}/files/report.pdf")))
            .await,
        404,
        "Not Found",
    );
    let (_, last) = s
        .delete(&s.project_path(&format!(
            "/compliance-requests/{id}/files/data%20export.csv"
        )))
        .await;
    assert!(
        last.get("filePurgeDate").is_none(),
        "removed with the last file"
    );
    assert_eq!(stored_files(&s), 0);
    let (_, ev) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&order=asc"
        )))
        .await;
    let names: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "created",
            "verified",
            "file_uploaded",
            "file_uploaded",
            "files_downloaded",
            "file_deleted",
            "file_deleted"
        ]
    );
    assert_eq!(
        ev["items"][3]["details"],
        json!({"fileName": "data export.csv", "fileSize": 8, "uploadedFilesCount": 2})
    );
    assert_eq!(ev["items"][4]["details"]["downloadedFilesCount"], 1);
}

async fn upload_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let one = |name: &str| Form::new().part("file", part(name, b"x".to_vec(), "text/plain"));
    assert_error(
        &upload(&s, &s.key, id, one("../etc/passwd")).await,
        400,
        "body/file/fileName must NOT contain path separators",
    );
    assert_error(
        &upload(&s, &s.key, id, one("a\\b")).await,
        400,
        "body/file/fileName must NOT contain path separators",
    );
    assert_error(
        &upload(&s, &s.key, id, one("..hidden")).await,
        400,
        "body/file/fileName must NOT contain '..'",
    );
    assert_error(
        &upload(&s, &s.key, id, one(&"n".repeat(256))).await,
        400,
        "body/file/fileName must NOT have more than 255 characters",
    );
    let other = Form::new().part("attachment", part("a.txt", b"x".to_vec(), "text/plain"));
    assert_error(
        &upload(&s, &s.key, id, other).await,
        400,
        "body must NOT have additional properties: 'attachment'",
    );
    let text_only = Form::new().text("file", "not a file");
    assert_error(
        &upload(&s, &s.key, id, text_only).await,
        400,
        "body/file must have required property 'fileName'",
    );
    let mut eleven = Form::new();
    for i in 0..11 {
        eleven = eleven.part(
            "file",
            part(&format!("f{i}.txt"), b"x".to_vec(), "text/plain"),
        );
    }
    assert_error(
        &upload(&s, &s.key, id, eleven).await,
        400,
        "body/file must NOT have more than 10 items",
    );
    let twice = Form::new()
        .part("file", part("a.txt", b"x".to_vec(), "text/plain"))
        .part("file", part("a.txt", b"y".to_vec(), "text/plain"));
    assert_error(
        &upload(&s, &s.key, id, twice).await,
        422,
        "file 'a.txt' already exists on this compliance request",
    );
    assert_eq!(upload(&s, &s.key, id, one("a.txt")).await.0, 201);
    assert_error(
        &upload(&s, &s.key, id, one("a.txt")).await,
        422,
        "file 'a.txt' already exists on this compliance request",
    );
    assert_eq!(
        stored_files(&s),
        1,
        "rejected uploads leave no bytes behind"
    );
}

async fn upload_media_type_and_sizes(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{id}/files"));
    let got = send(
        s.req(Method::POST, &path)
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_error(&got, 415, "Content-Type must be multipart/form-data");
    let max = 10_485_760usize;
    let exact = Form::new().part(
        "file",
        part("exact.bin", vec![7u8; max], "application/octet-stream"),
    );
    assert_eq!(upload(&s, &s.key, id, exact).await.0, 201);
    let over = Form::new().part(
        "file",
        part("big.bin", vec![7u8; max + 1], "application/octet-stream"),
    );
    assert_error(
        &upload(&s, &s.key, id, over).await,
        413,
        "file 'big.bin' exceeds the maximum size of 10485760 bytes",
    );
    let (_, now) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    assert_eq!(now["files"].as_array().unwrap().len(), 1);
    assert_eq!(stored_files(&s), 1);
}

async fn pending_requests_take_no_files(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s
        .create_request(json!({"request": "view", "userEmail": "p@example.com"}))
        .await;
    let form = Form::new().part("file", part("a.txt", b"x".to_vec(), "text/plain"));
    assert_error(
        &upload(&s, &s.key, cr["id"].as_str().unwrap(), form).await,
        422,
        "compliance request must be verified before it can be edited",
    );
    assert_eq!(stored_files(&s), 0);
    let missing = uuid::Uuid::new_v4().to_string();
    let form = Form::new().part("file", part("a.txt", b"x".to_vec(), "text/plain"));
    assert_error(&upload(&s, &s.key, &missing, form).await, 404, "Not Found");
}

async fn viewers_read_but_do_not_write(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let form = Form::new().part("file", part("a.txt", b"x".to_vec(), "text/plain"));
    assert_error(&upload(&s, &viewer, id, form).await, 403, "Forbidden");
    let form = Form::new().part("file", part("a.txt", b"hello".to_vec(), "text/plain"));
    assert_eq!(upload(&s, &s.key, id, form).await.0, 201);
    let path = s.project_path(&format!("/compliance-requests/{id}/files/a.txt"));
    let res = s.req_as(&viewer, Method::GET, &path).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_error(
        &send(s.req_as(&viewer, Method::DELETE, &path)).await,
        403,
        "Forbidden",
    );
}

/// A one-part multipart body written by hand, for part headers no client library writes.
fn raw_part(disposition: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body =
        format!("--XyZ\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n")
            .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    body
}

async fn raw_upload(s: &Server, id: &str, body: Vec<u8>) -> (u16, Value) {
    send(
        s.req(
            Method::POST,
            &s.project_path(&format!("/compliance-requests/{id}/files")),
        )
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body),
    )
    .await
}

/// The longest file name under the files folder.
fn longest_stored_name(s: &Server) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let own = e.file_name().len();
                        if e.path().is_dir() {
                            own.max(walk(&e.path()))
                        } else {
                            own
                        }
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }
    walk(&s.dir.path().join("files"))
}

async fn every_allowed_name_is_stored(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let names = [
        "Ответ на запрос доступа.pdf".to_string(),
        "%".repeat(217),
        "é".repeat(255),
        "😀".repeat(255),
        format!("{}.txt", "n".repeat(251)),
        "数据导出 (2024) #1 [final] & more; \"quoted\" 'single' 100%+?.csv".to_string(),
    ];
    for (i, name) in names.iter().enumerate() {
        let bytes = format!("file number {i}").into_bytes();
        let form = Form::new().part("file", part(name, bytes.clone(), "text/plain"));
        let (status, up) = upload(&s, &s.key, id, form).await;
        assert_eq!(status, 201, "{name}: {up}");
        let file = up["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fileName"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not in {up}"));
        assert_eq!(file["fileSize"], bytes.len());
        let res = s
            .req(Method::GET, file["filePath"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let disposition = res.headers()["content-disposition"].to_str().unwrap();
        assert!(
            disposition.ends_with(&format!(
                "filename*=UTF-8''{}",
                accord_core::compliance::percent_encode(name)
            )),
            "{disposition}"
        );
        assert_eq!(res.headers()["content-length"], bytes.len().to_string());
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    assert_eq!(stored_files(&s), names.len());
    assert!(
        longest_stored_name(&s) <= 36,
        "stored names do not grow with the file name"
    );
    let (status, after) = s
        .delete(&s.project_path(&format!(
            "/compliance-requests/{id}/files/{}",
            accord_core::compliance::percent_encode(&names[0])
        )))
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(stored_files(&s), names.len() - 1);
}

async fn extended_and_refused_names(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let (status, up) = raw_upload(
        &s,
        id,
        raw_part(
            "form-data; name=\"file\"; filename*=UTF-8''%D0%9E%D1%82%D0%B2%D0%B5%D1%82.pdf",
            b"one",
        ),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    assert_eq!(up["files"][0]["fileName"], "Ответ.pdf");
    let (status, up) = raw_upload(
        &s,
        id,
        raw_part(
            "form-data; name=\"file\"; filename=\"fallback.txt\"; filename*=utf-8'en'%E2%82%AC%20rates.txt",
            b"two",
        ),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    assert_eq!(up["files"][1]["fileName"], "€ rates.txt", "filename* wins");
    let res = s
        .req(Method::GET, up["files"][1]["filePath"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"two");

    let control = "body/file/fileName must NOT contain control characters";
    for disposition in [
        "form-data; name=\"file\"; filename*=UTF-8''a%01b.txt",
        "form-data; name=\"file\"; filename=\"a\u{1}b.txt\"",
        "form-data; name=\"file\"; filename=\"a\u{7f}b.txt\"",
        "form-data; name=\"file\"; filename=\"a\tb.txt\"",
        "form-data; name=\"file\"; filename=\"a\u{1b}b.txt\"",
    ] {
        let got = raw_upload(&s, id, raw_part(disposition, b"x")).await;
        assert_error(&got, 400, control);
    }
    let form = Form::new().part("file", part("bell\u{7}.txt", b"x".to_vec(), "text/plain"));
    assert_error(&upload(&s, &s.key, id, form).await, 400, control);
    let form = Form::new()
        .part("file", part("fine.txt", b"x".to_vec(), "text/plain"))
        .part(
            "file",
            part("not\u{1}fine.txt", b"y".to_vec(), "text/plain"),
        );
    assert_error(&upload(&s, &s.key, id, form).await, 400, control);
    assert_error(
        &raw_upload(
            &s,
            id,
            raw_part("form-data; name=\"file\"; filename*=UTF-8''..%2Fx", b"x"),
        )
        .await,
        400,
        "body/file/fileName must NOT contain path separators",
    );
    for malformed in [
        "form-data; name=\"file\"; filename*=koi8-r''x.txt",
        "form-data; name=\"file\"; filename*=UTF-8''%FF.txt",
        "form-data; name=\"file\"; filename=\"ok.txt\"; x-note=\"a\u{1}\"",
    ] {
        assert_error(
            &raw_upload(&s, id, raw_part(malformed, b"x")).await,
            400,
            "body must be valid multipart/form-data",
        );
    }
    assert_eq!(stored_files(&s), 2, "refused uploads leave no bytes behind");
}

async fn empty_files_are_files(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let form = Form::new().part("file", part("nothing found.csv", vec![], "text/csv"));
    let (status, up) = upload(&s, &s.key, id, form).await;
    assert_eq!(status, 201, "§3.8 sets no lower size: {up}");
    assert_eq!(up["files"][0]["fileSize"], 0);
    let res = s
        .req(Method::GET, up["files"][0]["filePath"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "0");
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(stored_files(&s), 1);
}

/// A compliance-request create of exactly `len` bytes (padded with spaces).
fn padded_create(len: usize) -> Vec<u8> {
    let mut body = json!({"request": "view", "userEmail": format!("{}@example.com", uuid::Uuid::new_v4().simple()), "preverified": true})
        .to_string()
        .into_bytes();
    body.resize(len, b' ');
    body
}

/// Starts a multipart upload of one `size`-byte file on a raw connection and sends all but
/// its last `held_back` bytes; [`finish_upload`] sends the rest and reads the answer.
async fn start_upload(
    s: &Server,
    id: &str,
    size: usize,
    held_back: usize,
) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let addr = s.base.trim_start_matches("http://");
    let body = raw_part(
        "form-data; name=\"file\"; filename=\"held.bin\"",
        &vec![7u8; size],
    );
    let path = s.project_path(&format!("/compliance-requests/{id}/files"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: multipart/form-data; boundary=XyZ\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        s.key,
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let split = body.len() - held_back;
    conn.write_all(&body[..split]).await.unwrap();
    (conn, body[split..].to_vec())
}

async fn finish_upload(mut conn: tokio::net::TcpStream, rest: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(&rest).await.unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn large_bodies_share_a_memory_budget(b: accord_store::Backend) {
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            body_memory: 2 * 1024 * 1024,
            body_memory_wait: std::time::Duration::from_millis(300),
            upload_part_bytes: 1024 * 1024,
            ..Default::default()
        },
    )
    .await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let creates = s.project_path("/compliance-requests");
    let large = || {
        s.req(Method::POST, &creates)
            .header("content-type", "application/json")
            .body(padded_create(100 * 1024))
    };
    // An upload in flight holds two parts of 1 MiB: the whole budget. Its staging file
    // shows that it is being written.
    let (held, rest) = start_upload(&s, id, 3 * 1024 * 1024, 1024).await;
    for _ in 0..250 {
        if stored_files(&s) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stored_files(&s), 1, "the upload is under way");
    let busy = large().send().await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let got = (503, busy.json::<Value>().await.unwrap());
    assert_error(
        &got,
        503,
        "Too many large request bodies in flight, retry later",
    );
    let second = Form::new().part(
        "file",
        part(
            "second.bin",
            vec![1u8; 200 * 1024],
            "application/octet-stream",
        ),
    );
    assert_error(
        &upload(&s, &s.key, id, second).await,
        503,
        "Too many large request bodies in flight, retry later",
    );
    let small = s
        .req(Method::POST, &creates)
        .header("content-type", "application/json")
        .body(padded_create(60 * 1024));
    assert_eq!(send(small).await.0, 201, "small bodies are not counted");

    assert_eq!(finish_upload(held, rest).await, 201);
    assert_eq!(send(large()).await.0, 201, "the budget is given back");
    let (_, now) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    let names: Vec<&str> = now["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fileName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["held.bin"]);
    assert_eq!(stored_files(&s), 1, "the refused upload stored nothing");
}

async fn dense_json_counts_its_parsed_values(b: accord_store::Backend) {
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            body_memory: 3 * 1024 * 1024,
            body_memory_wait: std::time::Duration::from_millis(300),
            upload_part_bytes: 1024 * 1024,
            ..Default::default()
        },
    )
    .await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let creates = s.project_path("/compliance-requests");
    // 200 KiB either way: spaces parse into nothing, a dense array into 100,000 values.
    let dense = || {
        let mut body =
            br#"{"request": "view", "userEmail": "d@example.com", "requestDetails": ["#.to_vec();
        while body.len() < 200 * 1024 - 3 {
            body.extend_from_slice(b"0,");
        }
        body.extend_from_slice(b"0]}");
        s.req(Method::POST, &creates)
            .header("content-type", "application/json")
            .body(body)
    };
    let sparse = || {
        s.req(Method::POST, &creates)
            .header("content-type", "application/json")
            .body(padded_create(200 * 1024))
    };
    let (held, rest) = start_upload(&s, id, 3 * 1024 * 1024, 1024).await;
    for _ in 0..250 {
        if stored_files(&s) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stored_files(&s), 1, "the upload is under way");
    assert_eq!(
        send(sparse()).await.0,
        201,
        "1 MiB left is enough for 200 KiB of spaces"
    );
    assert_error(
        &send(dense()).await,
        503,
        "Too many large request bodies in flight, retry later",
    );
    assert_eq!(finish_upload(held, rest).await, 201);
    let (status, _) = send(dense()).await;
    assert_eq!(status, 400, "alone, it is read and judged by its schema");
}

async fn an_abandoned_upload_leaves_no_bytes(b: accord_store::Backend) {
    use tokio::io::AsyncWriteExt;
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let addr = s.base.trim_start_matches("http://");
    let mut body = raw_part(
        "form-data; name=\"file\"; filename=\"first.bin\"",
        &[1u8; 4096],
    );
    body.truncate(body.len() - b"--\r\n".len());
    body.extend_from_slice(
        b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"second.bin\"\r\n\r\npartial",
    );
    let path = s.project_path(&format!("/compliance-requests/{id}/files"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: multipart/form-data; boundary=XyZ\r\ncontent-length: {}\r\n\r\n",
        s.key,
        body.len() + 1024 * 1024
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    for _ in 0..200 {
        if stored_files(&s) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        stored_files(&s),
        1,
        "the first file is stored as it arrives"
    );
    drop(conn);
    for _ in 0..250 {
        if stored_files(&s) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        stored_files(&s),
        0,
        "the client went away: its bytes are removed"
    );
    let (_, now) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    assert!(now["files"].as_array().unwrap().is_empty());
}

/// The files under the files folder, as paths relative to it.
fn stored_paths(s: &Server) -> Vec<String> {
    fn walk(root: &std::path::Path, p: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_owned();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let root = s.dir.path().join("files");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

async fn files_under_earlier_keys_stay_readable(b: accord_store::Backend) {
    use object_store::ObjectStore;
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let form = Form::new().part(
        "file",
        part("old report.pdf", b"v1".to_vec(), "application/pdf"),
    );
    let (status, up) = upload(&s, &s.key, id, form).await;
    assert_eq!(status, 201, "{up}");
    let new_key = stored_paths(&s).pop().unwrap();
    // Earlier uploads were kept under `<upload id>-<percent-encoded name>`.
    let old_key = format!("{new_key}-old%20report.pdf");
    let files =
        object_store::local::LocalFileSystem::new_with_prefix(s.dir.path().join("files")).unwrap();
    files
        .put(
            &object_store::path::Path::from(old_key.as_str()),
            bytes::Bytes::from_static(b"earlier bytes").into(),
        )
        .await
        .unwrap();
    files
        .delete(&object_store::path::Path::from(new_key.as_str()))
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&s.url)
        .await
        .unwrap();
    let moved = sqlx::query(&format!(
        "UPDATE compliance_requests SET files = REPLACE(files, '\"{new_key}\"', '\"{old_key}\"')"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);

    let res = s
        .req(Method::GET, up["files"][0]["filePath"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"earlier bytes");
    let (status, _) = s
        .delete(&s.project_path(&format!("/compliance-requests/{id}/files/old%20report.pdf")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored_files(&s), 0, "deleted under its earlier key");
}
