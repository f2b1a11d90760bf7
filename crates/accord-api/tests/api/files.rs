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
    viewers_read_but_do_not_write
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
    let empty = Form::new().part("file", part("empty.txt", vec![], "text/plain"));
    assert_error(
        &upload(&s, &s.key, id, empty).await,
        400,
        "body/file 'empty.txt' must NOT be empty",
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
