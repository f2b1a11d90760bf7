//! §7.1–§7.4, §7.12, §7.13: organizations, projects, API keys, permissions and the
//! subscription, with the role, owner and last-owner rules of §2.3.
use crate::both;
use crate::common::*;
use accord_core::admin::LAST_OWNER;
use accord_core::admin::{
    ApiKeyView, CallerPermissions, OrganizationView, ProjectView, Subscription,
};
use accord_core::auth::Role;
use accord_core::schema::published;
use accord_core::store::{bootstrap, Bootstrapped};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    organization_create_and_read,
    organization_body_validation,
    organization_patch,
    organization_roles_and_scope,
    organization_list_filters_and_sort,
    organization_delete_removes_its_data,
    project_create_read_and_defaults,
    project_body_validation,
    project_patch_settings_status_and_email,
    project_data_systems,
    project_archive,
    project_list_filters_sort_and_visibility,
    project_roles_and_scope,
    identify_secret_rotation,
    api_key_lifecycle,
    api_key_permission_rules,
    api_key_owner_rules,
    last_owner_rule,
    key_may_delete_itself,
    reads_follow_key_and_project_writes,
    api_key_list_filters_and_sort,
    permissions_and_subscription,
    openapi_lists_the_endpoints,
    body_rules_checked_in_code_are_published,
);

fn org_path(org: impl std::fmt::Display, rest: &str) -> String {
    format!("/privacy-v1/organizations/{org}{rest}")
}

/// A second organization with its own owner key.
async fn other_org(s: &Server) -> Bootstrapped {
    bootstrap(s.store.as_ref(), "Other", "Other site", vec![], "other")
        .await
        .unwrap()
}

async fn count_rows(s: &Server, table: &str, column: &str, id: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = '{id}'");
    sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(&s.store.db.read)
        .await
        .unwrap()
}

async fn insert_data_system(s: &Server, org: Uuid, name: &str, type_id: Option<&str>) -> Uuid {
    let id = Uuid::now_v7();
    let type_id = type_id.map_or("NULL".to_string(), |t| format!("'{t}'"));
    let sql = format!(
        "INSERT INTO data_systems (id, organization_id, name, status, data_system_type_id, date_created, date_updated) \
         VALUES ('{id}', '{org}', '{name}', 'active', {type_id}, 1, 1)"
    );
    sqlx::query(&sql).execute(&s.store.db.write).await.unwrap();
    id
}

async fn create_org(s: &Server, body: Value) -> Value {
    let (status, org) = s.post("/privacy-v1/organizations", body).await;
    assert_eq!(status, 201, "{org}");
    org
}

async fn create_project(s: &Server, body: Value) -> Value {
    let (status, p) = s.post(&org_path(s.org, "/projects"), body).await;
    assert_eq!(status, 201, "{p}");
    p
}

/// Creates a key through the API and returns the response (with the secret).
async fn create_key(s: &Server, body: Value) -> Value {
    let (status, k) = s.post(&org_path(s.org, "/api-keys"), body).await;
    assert_eq!(status, 201, "{k}");
    k
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

async fn own_key(s: &Server) -> Value {
    let (_, list) = s
        .get(&org_path(s.org, &format!("/api-keys?apiKey={}", s.key)))
        .await;
    assert_eq!(list["total"], 1, "{list}");
    list["items"][0].clone()
}

async fn organization_create_and_read(b: accord_store::Backend) {
    let s = start(b).await;
    let org = create_org(
        &s,
        json!({
            "name": "Acme",
            "primaryDomain": "Shop.Example.COM",
            "privacyPolicyUrl": "https://shop.example.com/privacy",
            "termsOfServiceUrl": "https://shop.example.com/terms",
            "contactEmails": ["privacy@example.com"],
            "regionTemplate": {"template": "gdpr", "name": "Europe", "settings": {"consent": {"gcm": "advanced"}}},
            "coupons": ["WELCOME"],
            "subscription": {"plan": "pro", "interval": "month", "addons": {"users": 3}, "collectPayment": false, "test": true}
        }),
    )
    .await;
    check_schema(&published::<OrganizationView>(), &org, "organization").unwrap();
    // The bootstrap organization is also called Acme: the derived slug gets a suffix.
    assert_eq!(org["slug"], "acme-2");
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["primaryDomain"], "shop.example.com");
    assert_eq!(org["status"], "active");
    assert_eq!(org["statusFlags"], json!({"isActive": true}));
    assert_eq!(org["statusDate"], org["dateCreated"]);
    assert_eq!(
        org["subscription"],
        json!({"plan": "self_hosted", "interval": null, "addons": {}})
    );
    let projects = org["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["name"], "Default");
    assert_eq!(projects[0]["id"], org["defaultProjectId"]);
    assert_eq!(projects[0]["contactEmails"], json!(["privacy@example.com"]));
    assert_eq!(projects[0]["contactEmail"], "privacy@example.com");
    assert!(projects[0].get("dataSystems").is_none(), "{}", projects[0]);
    for absent in ["billingEmails", "stripe", "createdAt", "updatedAt"] {
        assert!(org.get(absent).is_none());
    }
    let id = org["id"].as_str().unwrap();
    let new_org: Uuid = id.parse().unwrap();
    // The primary domain became the Default project's domain.
    let pid = projects[0]["id"].as_str().unwrap();
    assert_eq!(count_rows(&s, "domains", "project_id", pid).await, 1);

    // The creating key owns the new organization through a permission entry.
    let (status, got) = s.get(&org_path(id, "")).await;
    assert_eq!(status, 200);
    assert_eq!(got, org);
    let (_, perms) = s.get(&org_path(id, "/permissions")).await;
    assert_eq!(perms["role"], "owner");
    let key = own_key(&s).await;
    let entry = &key["permissions"][0];
    assert_eq!(entry["organizationId"], id);
    assert_eq!(entry["organizationName"], "Acme");
    assert_eq!(entry["role"], "owner");
    assert!(entry.get("projectId").is_none());
    let (status, _) = s
        .post(&org_path(new_org, "/projects"), json!({"name": "Shop"}))
        .await;
    assert_eq!(status, 201);

    // An explicit slug; a duplicate one is 422.
    let org2 = create_org(&s, json!({"name": "Beta", "organizationSlug": "beta-co"})).await;
    assert_eq!(org2["slug"], "beta-co");
    assert!(org2.get("primaryDomain").is_none());
    let got = s
        .post(
            "/privacy-v1/organizations",
            json!({"name": "Gamma", "organizationSlug": "beta-co"}),
        )
        .await;
    assert_error(&got, 422, "organizationSlug already exists");
}

async fn organization_body_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = "/privacy-v1/organizations";
    let cases = [
        (json!({}), "body must have required property 'name'"),
        (json!({"name": ""}), "body/name must NOT have fewer than 1 characters"),
        (json!({"name": "x".repeat(257)}), "body/name must NOT have more than 256 characters"),
        (json!({"name": null}), "body/name must be string"),
        (json!({"name": "A", "foo": 1}), "body must NOT have additional properties: 'foo'"),
        (json!({"name": "A", "primaryDomain": "https://x.com"}), "body/primaryDomain must match format \"hostname\""),
        (json!({"name": "A", "privacyPolicyUrl": "ftp://x.com/p"}), "body/privacyPolicyUrl must match format \"uri\""),
        (json!({"name": "A", "contactEmails": ["nope"]}), "body/contactEmails/0 must match format \"email\""),
        (json!({"name": "A", "contactEmails": vec!["a@example.com"; 21]}), "body/contactEmails must NOT have more than 20 items"),
        (json!({"name": "A", "organizationSlug": "Bad Slug"}), "body/organizationSlug must match pattern \"^[a-z0-9-]{2,64}$\""),
        (json!({"name": "A", "regionTemplate": []}), "body/regionTemplate must be object"),
        (json!({"name": "A", "regionTemplate": {"template": "eu"}}), "body/regionTemplate/template must be equal to one of the allowed values: gdpr, united_states, california, custom"),
        (json!({"name": "A", "regionTemplate": {"colour": "red"}}), "body/regionTemplate must NOT have additional properties: 'colour'"),
        (json!({"name": "A", "subscription": {"addons": {"users": -1}}}), "body/subscription/addons/users must be >= 0"),
    ];
    for (body, message) in cases {
        assert_error(&s.post(path, body).await, 400, message);
    }
    let got = send(
        s.req(Method::POST, path)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_error(&got, 415, "Content-Type must be application/json");
}

async fn organization_patch(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(s.org, "");
    let other = create_project(&s, json!({"name": "Shop"})).await;
    let (status, org) = s
        .patch(
            &path,
            json!({"name": "Acme Corp", "primaryDomain": "ACME.example", "defaultProjectId": other["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{org}");
    check_schema(&published::<OrganizationView>(), &org, "organization").unwrap();
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(org["primaryDomain"], "acme.example");
    assert_eq!(org["defaultProjectId"], other["id"]);
    assert_eq!(org["slug"], "acme");
    assert!(org["dateUpdated"].as_i64() >= org["dateCreated"].as_i64());
    // An empty string clears the primary domain.
    let (_, org) = s.patch(&path, json!({"primaryDomain": ""})).await;
    assert!(org.get("primaryDomain").is_none(), "{org}");

    assert_error(
        &s.patch(&path, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&path, json!({"slug": "x"})).await,
        400,
        "body must NOT have additional properties: 'slug'",
    );
    assert_error(
        &s.patch(&path, json!({"defaultProjectId": "nope"})).await,
        400,
        "body/defaultProjectId must match format \"uuid\"",
    );
    // A project of another organization is not a project of this one.
    let o = other_org(&s).await;
    assert_error(
        &s.patch(&path, json!({"defaultProjectId": o.project.id}))
            .await,
        422,
        "defaultProjectId not found in this organization",
    );
    assert_error(
        &s.patch(&path, json!({"defaultProjectId": Uuid::now_v7()}))
            .await,
        422,
        "defaultProjectId not found in this organization",
    );
}

async fn organization_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(s.org, "");
    let admin = s.key_with(Role::Admin, vec![]).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let nobody = s.key_with(Role::None, vec![]).await;
    let second = create_project(&s, json!({"name": "Second"})).await;
    let second_id: Uuid = second["id"].as_str().unwrap().parse().unwrap();
    let project_only = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Viewer)])
        .await;

    // Create: owner of the home organization only.
    let got = call(
        &s,
        &admin,
        Method::POST,
        "/privacy-v1/organizations",
        Some(json!({"name": "X"})),
    )
    .await;
    assert_error(&got, 403, "Forbidden");
    // PATCH: A+.
    let got = call(
        &s,
        &viewer,
        Method::PATCH,
        &path,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_error(&got, 403, "Forbidden");
    let (status, _) = call(
        &s,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, 200);
    // Role and scope come before body validation.
    let got = call(&s, &viewer, Method::PATCH, &path, Some(json!({}))).await;
    assert_error(&got, 403, "Forbidden");
    // DELETE: owner only.
    assert_error(
        &call(&s, &admin, Method::DELETE, &path, None).await,
        403,
        "Forbidden",
    );

    // GET: any role in the organization or one of its projects.
    let (status, org) = call(&s, &viewer, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(org["projects"].as_array().unwrap().len(), 2);
    let (status, org) = call(&s, &project_only, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    let visible: Vec<&Value> = org["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(visible, vec![&json!(s.project)]);
    assert_ne!(s.project, second_id);
    assert_error(
        &call(&s, &nobody, Method::GET, &path, None).await,
        403,
        "Forbidden",
    );
    // The subscription is organization-scoped: a project-only key is not enough.
    let sub = org_path(s.org, "/subscription");
    assert_error(
        &call(&s, &project_only, Method::GET, &sub, None).await,
        403,
        "Forbidden",
    );
    assert_eq!(call(&s, &viewer, Method::GET, &sub, None).await.0, 200);

    // Another organization, or one that does not exist: 403, whatever the method.
    let o = other_org(&s).await;
    let theirs = org_path(o.organization.id, "");
    assert_error(&s.get(&theirs).await, 403, "Forbidden");
    assert_error(
        &s.patch(&theirs, json!({"name": "Mine"})).await,
        403,
        "Forbidden",
    );
    assert_error(&s.delete(&theirs).await, 403, "Forbidden");
    assert_error(
        &s.get(&org_path(Uuid::now_v7(), "")).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get(&org_path(o.organization.id, "/subscription")).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get("/privacy-v1/organizations/not-a-uuid").await,
        400,
        "params/organizationId must match format \"uuid\"",
    );
    let (_, list) = s.get("/privacy-v1/organizations").await;
    assert_eq!(list["total"], 1);
    let (_, list) = call(&s, &nobody, Method::GET, "/privacy-v1/organizations", None).await;
    assert_eq!(
        list,
        json!({"offset": 0, "count": 0, "total": 0, "items": []})
    );
    let (_, list) = call(
        &s,
        &project_only,
        Method::GET,
        "/privacy-v1/organizations",
        None,
    )
    .await;
    assert_eq!(list["total"], 1);
}

async fn organization_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    create_org(&s, json!({"name": "beta", "primaryDomain": "beta.example"})).await;
    create_org(
        &s,
        json!({"name": "Alpha", "primaryDomain": "alpha.example"}),
    )
    .await;
    create_org(&s, json!({"name": "Gamma"})).await;
    let sr = &s;
    let list = |q: &str| {
        let path = format!("/privacy-v1/organizations{q}");
        async move { sr.get(&path).await }
    };
    let (status, all) = list("").await;
    assert_eq!(status, 200);
    for item in all["items"].as_array().unwrap() {
        check_schema(&published::<OrganizationView>(), item, "item").unwrap();
    }
    // Newest first by default.
    assert_eq!(names(&all), ["Gamma", "Alpha", "beta", "Acme"]);
    assert_eq!(
        names(&list("?sort=name&order=asc").await.1),
        ["Acme", "Alpha", "Gamma", "beta"]
    );
    assert_eq!(
        names(&list("?sort=name").await.1),
        ["beta", "Gamma", "Alpha", "Acme"]
    );
    assert_eq!(
        names(&list("?name=A").await.1),
        ["Gamma", "Alpha", "beta", "Acme"]
    );
    assert_eq!(names(&list("?name=ALP").await.1), ["Alpha"]);
    assert_eq!(
        names(&list("?primaryDomain=.example").await.1),
        ["Alpha", "beta"]
    );
    assert_eq!(
        names(&list("?status=active&sort=dateCreated&order=asc").await.1),
        ["Acme", "beta", "Alpha", "Gamma"]
    );
    let (_, page) = list("?sort=name&order=asc&offset=1&limit=2").await;
    assert_eq!(names(&page), ["Alpha", "Gamma"]);
    assert_eq!(
        (
            page["offset"].clone(),
            page["count"].clone(),
            page["total"].clone()
        ),
        (json!(1), json!(2), json!(4))
    );
    assert_error(
        &list("?sort=slug").await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, name",
    );
    assert_error(
        &list("?status=archived").await,
        400,
        "querystring/status must be equal to one of the allowed values: active",
    );
    assert_error(
        &list(&format!("?name={}", "x".repeat(65))).await,
        400,
        "querystring/name must NOT have more than 64 characters",
    );
}

async fn organization_delete_removes_its_data(b: accord_store::Backend) {
    let s = start(b).await;
    let org = create_org(
        &s,
        json!({"name": "Doomed", "primaryDomain": "doomed.example"}),
    )
    .await;
    let id = org["id"].as_str().unwrap().to_string();
    let pid = org["defaultProjectId"].as_str().unwrap().to_string();
    let cr_path = format!("/privacy-v1/organizations/{id}/projects/{pid}/compliance-requests");
    let (status, cr) = s
        .post(
            &cr_path,
            json!({"request": "view", "userEmail": "jane@example.com", "preverified": true}),
        )
        .await;
    assert_eq!(status, 201, "{cr}");
    // A pending request: a verification challenge and a queued message.
    let (status, _) = s
        .post(
            &cr_path,
            json!({"request": "delete", "userEmail": "joe@example.com"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = s
        .post(
            &org_path(&id, "/emails"),
            json!({"email": "privacy@doomed.example"}),
        )
        .await;
    assert_eq!(status, 201);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec())
            .file_name("export.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let (status, _) = send(
        s.req(
            Method::POST,
            &format!("{cr_path}/{}/files", cr["id"].as_str().unwrap()),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(status, 201);
    let (status, key) = s
        .post(
            &org_path(&id, "/api-keys"),
            json!({"name": "doomed", "role": "admin"}),
        )
        .await;
    assert_eq!(status, 201);
    let doomed_key = key["apiKey"].as_str().unwrap().to_string();
    let ds = insert_data_system(&s, id.parse().unwrap(), "CRM", None).await;
    let (status, _) = s
        .patch(
            &org_path(&id, &format!("/projects/{pid}")),
            json!({"dataSystemIds": [ds]}),
        )
        .await;
    assert_eq!(status, 200);
    // A key of the bootstrap organization with a project entry in the doomed one.
    let guest = s
        .key_with(
            Role::Viewer,
            vec![(
                id.parse().unwrap(),
                Some(pid.parse().unwrap()),
                Role::Viewer,
            )],
        )
        .await;
    let files_dir = s.dir.path().join("files");
    let count_files = || walkdir_count(&files_dir);
    assert_eq!(count_files(), 1);

    // Admins of the organization may not delete it.
    assert_error(
        &call(&s, &doomed_key, Method::DELETE, &org_path(&id, ""), None).await,
        403,
        "Forbidden",
    );
    let (status, deleted) = s.delete(&org_path(&id, "")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["id"], json!(id));
    assert_eq!(deleted["name"], "Doomed");

    assert_error(&s.get(&org_path(&id, "")).await, 403, "Forbidden");
    assert_error(
        &call(&s, &doomed_key, Method::GET, &org_path(&id, ""), None).await,
        401,
        "Invalid API key",
    );
    for (table, column) in [
        ("organizations", "id"),
        ("projects", "organization_id"),
        ("domains", "organization_id"),
        ("api_keys", "organization_id"),
        ("api_key_permissions", "organization_id"),
        ("identities", "organization_id"),
        ("compliance_requests", "organization_id"),
        ("compliance_request_events", "organization_id"),
        ("data_systems", "organization_id"),
        ("data_system_projects", "project_id"),
        ("outgoing_messages", "organization_id"),
        ("send_from_emails", "organization_id"),
        ("verification_challenges", "project_id"),
    ] {
        let key = if column == "project_id" { &pid } else { &id };
        assert_eq!(count_rows(&s, table, column, key).await, 0, "{table}");
    }
    assert_eq!(count_files(), 0);
    // The caller's owner entry and the guest's project entry went with it.
    assert_eq!(own_key(&s).await["permissions"], json!([]));
    assert_eq!(
        call(&s, &guest, Method::GET, &s.project_path(""), None)
            .await
            .0,
        200
    );
    let (_, list) = s.get("/privacy-v1/organizations").await;
    assert_eq!(list["total"], 1);
    // The bootstrap organization is untouched.
    assert_eq!(s.get(&s.project_path("")).await.0, 200);
}

fn walkdir_count(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walkdir_count(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn project_create_read_and_defaults(b: accord_store::Backend) {
    let s = start(b).await;
    let p = create_project(
        &s,
        json!({
            "name": "Web Shop",
            "type": "website",
            "contactEmails": ["dpo@example.com", "privacy@example.com"],
            "domains": ["Shop.Example.com", "shop.example.com", "www.example.com"],
            "privacyPolicyUrl": "https://example.com/privacy",
            "regionTemplate": {"template": "custom", "regions": ["default"]},
            "additionalRegions": [{"template": "california", "name": "California"}],
            "settings": {"complianceRequests": {"regulation": "ccpa"}, "identity": {"allowUnverifiedIdentify": true}}
        }),
    )
    .await;
    check_schema(&published::<ProjectView>(), &p, "project").unwrap();
    assert_eq!(p["name"], "Web Shop");
    assert_eq!(p["slug"], "web-shop");
    assert_eq!(p["organizationId"], json!(s.org));
    assert_eq!(
        p["organization"],
        json!({"id": s.org, "name": "Acme", "slug": "acme", "status": "active"})
    );
    assert_eq!(p["type"], "website");
    assert_eq!(p["status"], "active");
    assert_eq!(p["statusFlags"], json!({"isActive": true, "isTest": false}));
    assert_eq!(p["contactEmail"], "dpo@example.com");
    assert_eq!(p["sendFromEmailId"], "default");
    assert_eq!(
        p["sendFromEmail"],
        json!({"id": "default", "email": "no-reply@localhost", "name": "Accord"})
    );
    assert_eq!(p["dataSystems"], json!([]));
    assert_eq!(
        p["settings"],
        json!({
            "trackers": {"deepScan": false, "realTimeScan": false},
            "complianceRequests": {"regulation": "ccpa", "filePurgeDaysAfterDownload": 30, "filePurgeDaysAfterUpload": 90},
            "identity": {"allowUnverifiedIdentify": true}
        })
    );
    for absent in ["default", "mode", "privacyPolicyUrl", "projectId"] {
        assert!(p.get(absent).is_none(), "{absent}");
    }
    let id = p["id"].as_str().unwrap();
    // Domains are stored lowercase, once each.
    assert_eq!(count_rows(&s, "domains", "project_id", id).await, 2);
    let (status, got) = s.get(&org_path(s.org, &format!("/projects/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(got, p);
    // A second project of the same name gets its own slug; the regulation drives due dates.
    let twin = create_project(&s, json!({"name": "Web Shop"})).await;
    assert_eq!(twin["slug"], "web-shop-2");
    assert!(twin.get("contactEmail").is_none());
    assert_eq!(twin["contactEmails"], json!([]));
    let path = org_path(s.org, &format!("/projects/{id}/compliance-requests"));
    let (status, cr) = s
        .post(
            &path,
            json!({"request": "view", "userEmail": "a@example.com", "preverified": true}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, cr) = s
        .get(&format!(
            "{path}/{}?include=deadline",
            cr["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        cr["dueDate"].as_i64().unwrap() - cr["requestDate"].as_i64().unwrap(),
        45 * 86_400_000
    );

    let missing = org_path(s.org, &format!("/projects/{}", Uuid::now_v7()));
    assert_error(&s.get(&missing).await, 404, "Not Found");
    assert_error(
        &s.get(&org_path(s.org, "/projects/x")).await,
        400,
        "params/projectId must match format \"uuid\"",
    );
}

async fn project_body_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(s.org, "/projects");
    let cases = [
        (json!({}), "body must have required property 'name'"),
        (json!({"name": "A"}), "body/name must NOT have fewer than 2 characters"),
        (json!({"name": ""}), "body/name must NOT have fewer than 2 characters"),
        (json!({"name": "Shop", "type": "app"}), "body/type must be equal to one of the allowed values: website"),
        (json!({"name": "Shop", "domains": ["bad_domain!"]}), "body/domains/0 must match format \"hostname\""),
        (json!({"name": "Shop", "domains": vec!["a.example"; 101]}), "body/domains must NOT have more than 100 items"),
        (json!({"name": "Shop", "termsOfServiceUrl": "not a url"}), "body/termsOfServiceUrl must match format \"uri\""),
        (json!({"name": "Shop", "additionalRegions": {}}), "body/additionalRegions must be array"),
        (json!({"name": "Shop", "additionalRegions": [1]}), "body/additionalRegions/0 must be object"),
        (json!({"name": "Shop", "regionTemplate": {"language": {"enabled": "yes"}}}), "body/regionTemplate/language/enabled must be boolean"),
        (json!({"name": "Shop", "settings": {"colour": 1}}), "body/settings must NOT have additional properties: 'colour'"),
        (json!({"name": "Shop", "settings": {"complianceRequests": {"filePurgeDaysAfterUpload": 0}}}), "body/settings/complianceRequests/filePurgeDaysAfterUpload must be >= 1"),
        (json!({"name": "Shop", "settings": {"complianceRequests": {"regulation": "lgpd"}}}), "body/settings/complianceRequests/regulation must be equal to one of the allowed values: gdpr, ccpa"),
        (json!({"name": "Shop", "settings": {"trackers": {"lastRealTimeScan": 1}}}), "body/settings/trackers must NOT have additional properties: 'lastRealTimeScan'"),
    ];
    for (body, message) in cases {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    let one = s.project_path("");
    let cases = [
        (json!({}), "body must NOT have fewer than 1 properties"),
        (
            json!({"type": "website"}),
            "body must NOT have additional properties: 'type'",
        ),
        (
            json!({"status": "deleted"}),
            "body/status must be equal to one of the allowed values: active, archived",
        ),
        (
            json!({"dataSystemIds": ["x"]}),
            "body/dataSystemIds/0 must match format \"uuid\"",
        ),
        (
            json!({"contactEmails": "a@example.com"}),
            "body/contactEmails must be array",
        ),
        (
            json!({"settings": {"identity": {"allowUnverifiedIdentify": null}}}),
            "body/settings/identity/allowUnverifiedIdentify must be boolean",
        ),
    ];
    for (body, message) in cases {
        assert_error(&s.patch(&one, body).await, 400, message);
    }
}

async fn project_patch_settings_status_and_email(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("");
    let (status, p) = s
        .patch(
            &path,
            json!({"name": "Main site", "contactEmails": ["a@example.com"], "settings": {"trackers": {"deepScan": true}, "complianceRequests": {"filePurgeDaysAfterUpload": 10}}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    check_schema(&published::<ProjectView>(), &p, "project").unwrap();
    assert_eq!(p["name"], "Main site");
    assert_eq!(p["slug"], "website", "the slug stays");
    assert_eq!(p["contactEmail"], "a@example.com");
    // Deep merge: siblings are kept.
    assert_eq!(
        p["settings"],
        json!({
            "trackers": {"deepScan": true, "realTimeScan": false},
            "complianceRequests": {"regulation": "gdpr", "filePurgeDaysAfterDownload": 30, "filePurgeDaysAfterUpload": 10},
            "identity": {"allowUnverifiedIdentify": false}
        })
    );
    assert!(p["dateUpdated"].as_i64() >= p["dateCreated"].as_i64());
    let (_, again) = s.get(&path).await;
    assert_eq!(again, p);

    assert_eq!(
        s.patch(&path, json!({"sendFromEmailId": "default"}))
            .await
            .0,
        200
    );
    let (status, p) = s.patch(&path, json!({"sendFromEmailId": ""})).await;
    assert_eq!(
        (status, p["sendFromEmailId"].clone()),
        (200, json!("default"))
    );
    assert_error(
        &s.patch(
            &path,
            json!({"sendFromEmailId": Uuid::now_v7().to_string()}),
        )
        .await,
        422,
        "sendFromEmailId not found in this organization",
    );
    // Nothing was written by the rejected PATCH.
    let (_, p) = s.patch(&path, json!({"status": "archived"})).await;
    assert_eq!(p["status"], "archived");
    assert_eq!(p["statusFlags"]["isActive"], false);
    let (_, p) = s.patch(&path, json!({"status": "active"})).await;
    assert_eq!(p["statusFlags"]["isActive"], true);
    assert_eq!(p["name"], "Main site");
    // A PATCH of an unknown project is 404 after the body is validated.
    let missing = org_path(s.org, &format!("/projects/{}", Uuid::now_v7()));
    assert_error(
        &s.patch(&missing, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&missing, json!({"name": "Nope"})).await,
        404,
        "Not Found",
    );
}

async fn project_data_systems(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("");
    let crm = insert_data_system(&s, s.org, "CRM", None).await;
    let mail = insert_data_system(&s, s.org, "Mailer", Some("email")).await;
    let o = other_org(&s).await;
    let foreign = insert_data_system(&s, o.organization.id, "Theirs", None).await;

    let (status, p) = s
        .patch(&path, json!({"dataSystemIds": [mail, crm, crm]}))
        .await;
    assert_eq!(status, 200, "{p}");
    check_schema(&published::<ProjectView>(), &p, "project").unwrap();
    assert_eq!(
        p["dataSystems"],
        json!([
            {"id": crm, "name": "CRM", "status": "active", "dataSystemTypeId": "custom"},
            {"id": mail, "name": "Mailer", "status": "active", "dataSystemTypeId": "email"}
        ])
    );
    // New compliance requests get a task per linked system.
    let cr = s.submitted_request().await;
    assert_eq!(cr["dataSystemTasks"].as_array().unwrap().len(), 2);
    // The list shows them too; the organization's embedded projects do not.
    let (_, list) = s.get(&org_path(s.org, "/projects")).await;
    assert_eq!(list["items"][0]["dataSystems"], p["dataSystems"]);
    let (_, org) = s.get(&org_path(s.org, "")).await;
    assert!(org["projects"][0].get("dataSystems").is_none());

    // Unknown ids, and ids of another organization, are 422 and change nothing.
    for bad in [foreign, Uuid::now_v7()] {
        assert_error(
            &s.patch(&path, json!({"dataSystemIds": [crm, bad]})).await,
            422,
            "dataSystemIds/1 not found in this organization",
        );
    }
    let (_, p) = s.get(&path).await;
    assert_eq!(p["dataSystems"].as_array().unwrap().len(), 2);
    // The array replaces the whole set.
    let (_, p) = s.patch(&path, json!({"dataSystemIds": [mail]})).await;
    assert_eq!(p["dataSystems"][0]["id"], json!(mail));
    assert_eq!(p["dataSystems"].as_array().unwrap().len(), 1);
    let (_, p) = s.patch(&path, json!({"dataSystemIds": []})).await;
    assert_eq!(p["dataSystems"], json!([]));
}

async fn project_archive(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let (status, p) = s.delete(&s.project_path("")).await;
    assert_eq!(status, 200, "{p}");
    check_schema(&published::<ProjectView>(), &p, "project").unwrap();
    assert_eq!(p["status"], "archived");
    assert_eq!(
        p["statusFlags"],
        json!({"isActive": false, "isTest": false})
    );
    // Data is kept and readable; new requests are refused.
    let (status, got) = s
        .get(&s.project_path(&format!(
            "/compliance-requests/{}",
            cr["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!((status, got["id"].clone()), (200, cr["id"].clone()));
    let got = s
        .post(
            &s.project_path("/compliance-requests"),
            json!({"request": "view", "userEmail": "a@example.com"}),
        )
        .await;
    assert_error(&got, 422, "project is archived");
    // Archiving again answers the same object.
    let (status, again) = s.delete(&s.project_path("")).await;
    assert_eq!((status, again["status"].clone()), (200, json!("archived")));
    let (_, list) = s.get(&org_path(s.org, "/projects?status=archived")).await;
    assert_eq!(list["total"], 1);
    assert_error(
        &s.delete(&org_path(s.org, &format!("/projects/{}", Uuid::now_v7())))
            .await,
        404,
        "Not Found",
    );
}

async fn project_list_filters_sort_and_visibility(b: accord_store::Backend) {
    let s = start(b).await;
    let shop = create_project(
        &s,
        json!({"name": "Shop", "contactEmails": ["Shop-Privacy@example.com"]}),
    )
    .await;
    let blog = create_project(&s, json!({"name": "blog"})).await;
    s.delete(&org_path(
        s.org,
        &format!("/projects/{}", blog["id"].as_str().unwrap()),
    ))
    .await;
    let sr = &s;
    let list = |q: String| async move { sr.get(&org_path(sr.org, &format!("/projects{q}"))).await };
    let (status, all) = list(String::new()).await;
    assert_eq!(status, 200);
    for item in all["items"].as_array().unwrap() {
        check_schema(&published::<ProjectView>(), item, "item").unwrap();
    }
    assert_eq!(names(&all), ["blog", "Shop", "Website"]);
    assert_eq!(all["total"], 3);
    assert_eq!(
        names(&list("?sort=name&order=asc".into()).await.1),
        ["Shop", "Website", "blog"]
    );
    assert_eq!(
        names(&list("?sort=status&order=asc".into()).await.1),
        ["Website", "Shop", "blog"]
    );
    assert_eq!(names(&list("?name=O".into()).await.1), ["blog", "Shop"]);
    assert_eq!(
        names(&list("?contactEmails=privacy@".into()).await.1),
        ["Shop"]
    );
    assert_eq!(
        names(&list("?status=active".into()).await.1),
        ["Shop", "Website"]
    );
    assert_eq!(
        names(&list("?status=active&status=archived".into()).await.1),
        ["blog", "Shop", "Website"]
    );
    assert_eq!(
        names(&list("?sendFromEmail=NO-REPLY".into()).await.1).len(),
        3
    );
    assert_eq!(list("?sendFromEmail=other".into()).await.1["total"], 0);
    let (_, page) = list("?sort=name&order=asc&limit=1&offset=2".into()).await;
    assert_eq!(
        (names(&page), page["total"].clone(), page["count"].clone()),
        (vec!["blog".to_string()], json!(3), json!(1))
    );
    assert_error(
        &list("?sort=slug".into()).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, name, status",
    );
    assert_error(
        &list("?limit=0".into()).await,
        400,
        "querystring/limit must be >= 1",
    );

    // A key with one project entry sees that project only; a key with no access gets 403.
    let shop_id: Uuid = shop["id"].as_str().unwrap().parse().unwrap();
    let one = s
        .key_with(Role::None, vec![(s.org, Some(shop_id), Role::Viewer)])
        .await;
    let (status, mine) = call(&s, &one, Method::GET, &org_path(s.org, "/projects"), None).await;
    assert_eq!(status, 200);
    assert_eq!(names(&mine), ["Shop"]);
    let hidden = s
        .key_with(Role::Viewer, vec![(s.org, Some(shop_id), Role::None)])
        .await;
    let (_, theirs) = call(
        &s,
        &hidden,
        Method::GET,
        &org_path(s.org, "/projects"),
        None,
    )
    .await;
    assert_eq!(names(&theirs), ["blog", "Website"]);
    let nobody = s.key_with(Role::None, vec![]).await;
    assert_error(
        &call(
            &s,
            &nobody,
            Method::GET,
            &org_path(s.org, "/projects"),
            None,
        )
        .await,
        403,
        "Forbidden",
    );
}

async fn project_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let project_admin = s
        .key_with(Role::Viewer, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    let one = s.project_path("");
    let create = org_path(s.org, "/projects");
    for key in [&viewer, &limited] {
        assert_eq!(call(&s, key, Method::GET, &one, None).await.0, 200);
        assert_error(
            &call(&s, key, Method::POST, &create, Some(json!({"name": "New"}))).await,
            403,
            "Forbidden",
        );
        assert_error(
            &call(&s, key, Method::PATCH, &one, Some(json!({"name": "New"}))).await,
            403,
            "Forbidden",
        );
        assert_error(
            &call(&s, key, Method::DELETE, &one, None).await,
            403,
            "Forbidden",
        );
        assert_error(
            &call(
                &s,
                key,
                Method::POST,
                &s.project_path("/identify-secret"),
                None,
            )
            .await,
            403,
            "Forbidden",
        );
    }
    // A project-level admin administers that project, but cannot create projects.
    let (status, p) = call(
        &s,
        &project_admin,
        Method::PATCH,
        &one,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!((status, p["name"].clone()), (200, json!("Renamed")));
    assert_error(
        &call(
            &s,
            &project_admin,
            Method::POST,
            &create,
            Some(json!({"name": "New"})),
        )
        .await,
        403,
        "Forbidden",
    );
    // An unknown project: 404 for an organization-level reader, 403 for a project-only key.
    let missing = org_path(s.org, &format!("/projects/{}", Uuid::now_v7()));
    assert_error(
        &call(&s, &viewer, Method::GET, &missing, None).await,
        404,
        "Not Found",
    );
    let project_only = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    assert_error(
        &call(&s, &project_only, Method::GET, &missing, None).await,
        403,
        "Forbidden",
    );
    // Another organization's projects.
    let o = other_org(&s).await;
    let theirs = org_path(o.organization.id, &format!("/projects/{}", o.project.id));
    assert_error(&s.get(&theirs).await, 403, "Forbidden");
    assert_error(
        &s.patch(&theirs, json!({"name": "Mine"})).await,
        403,
        "Forbidden",
    );
    assert_error(&s.delete(&theirs).await, 403, "Forbidden");
    assert_error(
        &s.get(&org_path(o.organization.id, "/projects")).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.post(
            &org_path(o.organization.id, "/projects"),
            json!({"name": "Mine"}),
        )
        .await,
        403,
        "Forbidden",
    );
    // Their key cannot see ours either; a project of theirs under our organization is 404.
    assert_error(
        &call(&s, &o.secret, Method::GET, &one, None).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get(&org_path(s.org, &format!("/projects/{}", o.project.id)))
            .await,
        404,
        "Not Found",
    );
}

async fn identify_secret_rotation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/identify-secret");
    let stored = || async {
        sqlx::query_scalar::<_, Option<String>>(&format!(
            "SELECT identify_secret FROM projects WHERE id = '{}'",
            s.project
        ))
        .fetch_one(&s.store.db.read)
        .await
        .unwrap()
    };
    assert_eq!(
        stored().await,
        None,
        "no secret until the endpoint is called"
    );
    let (status, first) = send(s.req(Method::POST, &path)).await;
    assert_eq!(status, 201, "{first}");
    let secret = first["identifySecret"].as_str().unwrap().to_string();
    assert_eq!(first.as_object().unwrap().len(), 1);
    assert!(secret.starts_with("is_") && secret.len() == 46, "{secret}");
    assert!(secret[3..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert_eq!(stored().await.as_deref(), Some(secret.as_str()));
    // An empty JSON object is also accepted; each call replaces the secret.
    let (status, second) = s.post(&path, json!({})).await;
    assert_eq!(status, 201);
    assert_ne!(second["identifySecret"], first["identifySecret"]);
    assert_eq!(stored().await.as_deref(), second["identifySecret"].as_str());
    assert_error(
        &s.post(&path, json!({"secret": "mine"})).await,
        400,
        "body must NOT have additional properties: 'secret'",
    );
    let got = send(
        s.req(Method::POST, &path)
            .header("content-type", "text/plain")
            .body("x"),
    )
    .await;
    assert_error(&got, 415, "Content-Type must be application/json");
    let got = send(s.req(Method::POST, &path).body("x")).await;
    assert_error(&got, 415, "Content-Type must be application/json");
    let missing = org_path(
        s.org,
        &format!("/projects/{}/identify-secret", Uuid::now_v7()),
    );
    assert_error(&send(s.req(Method::POST, &missing)).await, 404, "Not Found");
}

async fn api_key_lifecycle(b: accord_store::Backend) {
    let s = start(b).await;
    let shop = create_project(&s, json!({"name": "Shop"})).await;
    let created = create_key(&s, json!({"name": "ci", "role": "admin"})).await;
    check_schema(&published::<ApiKeyView>(), &created, "key").unwrap();
    let secret = created["apiKey"].as_str().unwrap().to_string();
    assert!(secret.starts_with("ak_") && secret.len() == 46, "{secret}");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["organizationId"], json!(s.org));
    assert_eq!(created["permissions"], json!([]));
    assert!(created.get("projectId").is_none());
    let id = created["id"].as_str().unwrap();
    let one = org_path(s.org, &format!("/api-keys/{id}"));

    // The secret authenticates; it is masked everywhere else.
    let (status, got) = call(&s, &secret, Method::GET, &one, None).await;
    assert_eq!(status, 200);
    check_schema(&published::<ApiKeyView>(), &got, "key").unwrap();
    assert_eq!(got["apiKey"], format!("{}****", &secret[..7]));
    let mut expected = created.clone();
    expected["apiKey"] = got["apiKey"].clone();
    assert_eq!(got, expected);

    // Default roles.
    let plain = create_key(&s, json!({})).await;
    assert_eq!(
        (plain["role"].clone(), plain["name"].clone()),
        (json!("viewer"), json!(""))
    );
    let scoped = create_key(
        &s,
        json!({"name": "shop only", "permissions": [{"organizationId": s.org, "projectId": shop["id"], "name": "ignored", "role": "limited"}]}),
    )
    .await;
    assert_eq!(scoped["role"], "none");
    let entry = &scoped["permissions"][0];
    assert_eq!(entry["organizationId"], json!(s.org));
    assert_eq!(entry["organizationName"], "Acme");
    assert_eq!(entry["projectId"], shop["id"]);
    assert_eq!(entry["projectName"], "Shop");
    assert_eq!(entry["role"], "limited");
    assert!(entry.get("name").is_none());
    assert!(Uuid::parse_str(entry["id"].as_str().unwrap()).is_ok());
    // The scoped key reaches its project only.
    let scoped_secret = scoped["apiKey"].as_str().unwrap();
    let shop_path = org_path(
        s.org,
        &format!("/projects/{}", shop["id"].as_str().unwrap()),
    );
    assert_eq!(
        call(&s, scoped_secret, Method::GET, &shop_path, None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&s, scoped_secret, Method::GET, &s.project_path(""), None)
            .await
            .0,
        403
    );

    // PATCH: name, role, and a permission set that replaces the old one.
    let (status, patched) = s
        .patch(
            &org_path(s.org, &format!("/api-keys/{}", scoped["id"].as_str().unwrap())),
            json!({"name": "renamed", "role": "viewer", "permissions": [{"organizationId": s.org, "projectId": s.project, "role": "admin"}]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["role"], "viewer");
    assert_eq!(patched["permissions"].as_array().unwrap().len(), 1);
    assert_eq!(patched["permissions"][0]["projectName"], "Website");
    assert_eq!(
        call(
            &s,
            scoped_secret,
            Method::PATCH,
            &s.project_path(""),
            Some(json!({"name": "Site"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &s,
            scoped_secret,
            Method::PATCH,
            &shop_path,
            Some(json!({"name": "Shop 2"}))
        )
        .await
        .0,
        403
    );
    assert_error(
        &s.patch(&one, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );

    // DELETE answers the revoked key; it no longer authenticates.
    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], created["id"]);
    assert_eq!(deleted["apiKey"], got["apiKey"]);
    assert_error(
        &call(&s, &secret, Method::GET, &one, None).await,
        401,
        "Invalid API key",
    );
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_error(&s.patch(&one, json!({"name": "x"})).await, 404, "Not Found");
    assert_error(
        &s.get(&org_path(s.org, "/api-keys/nope")).await,
        400,
        "params/apiKeyId must match format \"uuid\"",
    );
}

async fn api_key_permission_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(s.org, "/api-keys");
    let o = other_org(&s).await;
    let entry = |org: Value, project: Value, role: &str| {
        let mut e = json!({"organizationId": org, "role": role});
        if !project.is_null() {
            e["projectId"] = project;
        }
        e
    };
    // 400: the shape of each entry.
    let cases = [
        (json!({"role": "superuser"}), "body/role must be equal to one of the allowed values: owner, admin, limited, viewer, none"),
        (json!({"name": "x".repeat(257)}), "body/name must NOT have more than 256 characters"),
        (json!({"permissions": [{"role": "admin"}]}), "body/permissions/0 must have required property 'organizationId'"),
        (json!({"permissions": [{"organizationId": s.org}]}), "body/permissions/0 must have required property 'role'"),
        (json!({"permissions": [{"organizationId": "x", "role": "admin"}]}), "body/permissions/0/organizationId must match format \"uuid\""),
        (json!({"permissions": [{"organizationId": "", "role": "admin"}]}), "body/permissions/0/organizationId must match format \"uuid\""),
        (json!({"permissions": [{"organizationId": s.org, "role": "admin", "extra": 1}]}), "body/permissions/0 must NOT have additional properties: 'extra'"),
        (json!({"permissions": {}}), "body/permissions must be array"),
        (json!({"projectId": s.project}), "body must NOT have additional properties: 'projectId'"),
    ];
    for (body, message) in cases {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    // 403: an entry for an organization where the caller is not A+ (or that does not exist).
    let got = s.post(&path, json!({"permissions": [entry(json!(o.organization.id), json!(o.project.id), "viewer")]})).await;
    assert_error(&got, 403, "Forbidden");
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(Uuid::now_v7()), Value::Null, "viewer")]}),
        )
        .await;
    assert_error(&got, 403, "Forbidden");
    // 403 comes before the 422s of the same body.
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(s.org), Value::Null, "admin"), entry(json!(o.organization.id), Value::Null, "viewer")]}),
        )
        .await;
    assert_error(&got, 403, "Forbidden");
    // 422: project outside the entry's organization, duplicates, home organization-level entry.
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(s.org), json!(o.project.id), "viewer")]}),
        )
        .await;
    assert_error(
        &got,
        422,
        &format!(
            "permissions/0/projectId not found in organization {}",
            s.org
        ),
    );
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(s.org), json!(Uuid::now_v7()), "viewer")]}),
        )
        .await;
    assert_eq!(got.0, 422);
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(s.org), json!(s.project), "viewer"), entry(json!(s.org), json!(s.project), "admin")]}),
        )
        .await;
    assert_error(
        &got,
        422,
        "permissions/1 duplicates an earlier entry for the same organization and project",
    );
    let got = s
        .post(
            &path,
            json!({"permissions": [entry(json!(s.org), Value::Null, "admin")]}),
        )
        .await;
    assert_error(
        &got,
        422,
        "permissions/0 must name a project: the key's role already covers its home organization",
    );
    assert_eq!(
        s.get(&path).await.1["total"],
        1,
        "no rejected key was stored"
    );

    // Once the caller is an admin of the other organization, entries there are allowed,
    // and an organization-level entry opens that organization to the key.
    let bridge = create_key(
        &s,
        json!({"permissions": [entry(json!(s.org), json!(s.project), "viewer")]}),
    )
    .await;
    let bridge_id = bridge["id"].as_str().unwrap();
    let ours = own_key(&s).await;
    s.store
        .add_api_key_permission(
            ours["id"].as_str().unwrap().parse().unwrap(),
            o.organization.id,
            None,
            Role::Admin,
        )
        .await
        .unwrap();
    let (status, patched) = s
        .patch(
            &org_path(s.org, &format!("/api-keys/{bridge_id}")),
            json!({"permissions": [entry(json!(s.org), json!(s.project), "viewer"), entry(json!(o.organization.id), Value::Null, "viewer")]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["permissions"][1]["organizationName"], "Other");
    assert!(patched["permissions"][1].get("projectId").is_none());
    let bridge_secret = bridge["apiKey"].as_str().unwrap();
    let (status, theirs) = call(
        &s,
        bridge_secret,
        Method::GET,
        &org_path(o.organization.id, ""),
        None,
    )
    .await;
    assert_eq!((status, theirs["name"].clone()), (200, json!("Other")));
    // Granting owner there needs O there: admin is not enough.
    let got = s
        .patch(
            &org_path(s.org, &format!("/api-keys/{bridge_id}")),
            json!({"permissions": [entry(json!(o.organization.id), Value::Null, "owner")]}),
        )
        .await;
    assert_error(&got, 403, "Forbidden");
}

async fn api_key_owner_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(s.org, "/api-keys");
    let admin = s.key_with(Role::Admin, vec![]).await;
    let owner_key = own_key(&s).await;
    let owner_path = org_path(
        s.org,
        &format!("/api-keys/{}", owner_key["id"].as_str().unwrap()),
    );
    let sr = &s;
    let admin_ref = &admin;
    let as_admin = |m: Method, p: String, body: Option<Value>| async move {
        call(sr, admin_ref, m, &p, body).await
    };
    // Admins create and manage keys below owner.
    let (status, made) = as_admin(
        Method::POST,
        path.clone(),
        Some(json!({"name": "by admin", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let made_path = org_path(
        s.org,
        &format!("/api-keys/{}", made["id"].as_str().unwrap()),
    );
    assert_eq!(
        as_admin(
            Method::PATCH,
            made_path.clone(),
            Some(json!({"role": "limited"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        as_admin(Method::GET, path.clone(), None).await.1["total"],
        3
    );
    // Anything involving the owner role needs an owner.
    let forbidden = [
        (Method::POST, path.clone(), Some(json!({"role": "owner"}))),
        (
            Method::POST,
            path.clone(),
            Some(
                json!({"permissions": [{"organizationId": s.org, "projectId": s.project, "role": "owner"}]}),
            ),
        ),
        (
            Method::PATCH,
            made_path.clone(),
            Some(json!({"role": "owner"})),
        ),
        (
            Method::PATCH,
            owner_path.clone(),
            Some(json!({"name": "mine now"})),
        ),
        (
            Method::PATCH,
            owner_path.clone(),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, owner_path.clone(), None),
    ];
    for (m, p, body) in forbidden {
        assert_error(&as_admin(m, p, body).await, 403, "Forbidden");
    }
    // The 403 of an owner rule comes after the 404 of the key.
    let missing = org_path(s.org, &format!("/api-keys/{}", Uuid::now_v7()));
    assert_error(
        &as_admin(Method::PATCH, missing, Some(json!({"role": "owner"}))).await,
        404,
        "Not Found",
    );
    // Limited and viewer keys do not administer keys at all.
    let limited = s.key_with(Role::Limited, vec![]).await;
    assert_error(
        &call(&s, &limited, Method::GET, &path, None).await,
        403,
        "Forbidden",
    );
    assert_error(
        &call(&s, &limited, Method::GET, &made_path, None).await,
        403,
        "Forbidden",
    );
    assert_error(
        &call(
            &s,
            &limited,
            Method::POST,
            &path,
            Some(json!({"role": "none"})),
        )
        .await,
        403,
        "Forbidden",
    );
    // An owner may.
    let (status, second_owner) = s
        .post(&path, json!({"name": "second owner", "role": "owner"}))
        .await;
    assert_eq!(
        (status, second_owner["role"].clone()),
        (201, json!("owner"))
    );
    let (status, promoted) = s.patch(&made_path, json!({"role": "owner"})).await;
    assert_eq!((status, promoted["role"].clone()), (200, json!("owner")));
    assert_eq!(s.delete(&made_path).await.0, 200);
    // Cross-organization: another organization's keys are out of reach.
    let o = other_org(&s).await;
    assert_error(
        &s.get(&org_path(o.organization.id, "/api-keys")).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.post(&org_path(o.organization.id, "/api-keys"), json!({}))
            .await,
        403,
        "Forbidden",
    );
    let theirs = call(
        &s,
        &o.secret,
        Method::GET,
        &org_path(o.organization.id, "/api-keys"),
        None,
    )
    .await
    .1;
    let their_key = org_path(
        o.organization.id,
        &format!("/api-keys/{}", theirs["items"][0]["id"].as_str().unwrap()),
    );
    assert_error(&s.get(&their_key).await, 403, "Forbidden");
    assert_error(&s.delete(&their_key).await, 403, "Forbidden");
    // Their key addressed under our organization does not exist there.
    let crossed = org_path(
        s.org,
        &format!("/api-keys/{}", theirs["items"][0]["id"].as_str().unwrap()),
    );
    assert_error(&s.get(&crossed).await, 404, "Not Found");
}

async fn last_owner_rule(b: accord_store::Backend) {
    let s = start(b).await;
    let me = own_key(&s).await;
    let my_path = org_path(s.org, &format!("/api-keys/{}", me["id"].as_str().unwrap()));
    assert_error(
        &s.patch(&my_path, json!({"role": "admin"})).await,
        422,
        LAST_OWNER,
    );
    assert_error(&s.delete(&my_path).await, 422, LAST_OWNER);
    // Renaming the last owner is fine.
    assert_eq!(
        s.patch(&my_path, json!({"name": "still owner"})).await.0,
        200
    );
    // With a second owner, the first may step down.
    let second = create_key(&s, json!({"role": "owner"})).await;
    let second_secret = second["apiKey"].as_str().unwrap().to_string();
    let (status, demoted) = s.patch(&my_path, json!({"role": "admin"})).await;
    assert_eq!((status, demoted["role"].clone()), (200, json!("admin")));
    let second_path = org_path(
        s.org,
        &format!("/api-keys/{}", second["id"].as_str().unwrap()),
    );
    assert_error(
        &call(&s, &second_secret, Method::DELETE, &second_path, None).await,
        422,
        LAST_OWNER,
    );

    // An organization created through the API is owned through a permission entry of the
    // creator: removing that entry would leave it without an owner.
    let (status, org) = call(
        &s,
        &second_secret,
        Method::POST,
        "/privacy-v1/organizations",
        Some(json!({"name": "Child"})),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let child: Uuid = org["id"].as_str().unwrap().parse().unwrap();
    let (_, mine) = call(
        &s,
        &second_secret,
        Method::GET,
        &org_path(s.org, &format!("/api-keys?apiKey={second_secret}")),
        None,
    )
    .await;
    assert_eq!(mine["items"][0]["permissions"][0]["role"], "owner");
    let got = call(
        &s,
        &second_secret,
        Method::PATCH,
        &second_path,
        Some(json!({"permissions": []})),
    )
    .await;
    assert_error(&got, 422, LAST_OWNER);
    // A home owner key of the child organization releases it.
    let (status, _) = call(
        &s,
        &second_secret,
        Method::POST,
        &org_path(child, "/api-keys"),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, released) = call(
        &s,
        &second_secret,
        Method::PATCH,
        &second_path,
        Some(json!({"permissions": []})),
    )
    .await;
    assert_eq!((status, released["permissions"].clone()), (200, json!([])));
    assert_error(
        &call(&s, &second_secret, Method::GET, &org_path(child, ""), None).await,
        403,
        "Forbidden",
    );
}

async fn key_may_delete_itself(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = create_key(&s, json!({"name": "temp"})).await;
    let secret = viewer["apiKey"].as_str().unwrap().to_string();
    let own = org_path(
        s.org,
        &format!("/api-keys/{}", viewer["id"].as_str().unwrap()),
    );
    // A viewer cannot read or delete other keys, nor read itself…
    let other = create_key(&s, json!({"name": "other"})).await;
    let other_path = org_path(
        s.org,
        &format!("/api-keys/{}", other["id"].as_str().unwrap()),
    );
    assert_error(
        &call(&s, &secret, Method::DELETE, &other_path, None).await,
        403,
        "Forbidden",
    );
    assert_error(
        &call(&s, &secret, Method::GET, &own, None).await,
        403,
        "Forbidden",
    );
    // …but may revoke itself.
    let (status, gone) = call(&s, &secret, Method::DELETE, &own, None).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["name"], "temp");
    assert_eq!(gone["apiKey"], format!("{}****", &secret[..7]));
    assert_error(
        &call(&s, &secret, Method::DELETE, &own, None).await,
        401,
        "Invalid API key",
    );
}

/// Reads (`GET`) may take the caller and the project from the server's short read caches;
/// every write to a key, its permissions or a project must show in the very next read.
async fn reads_follow_key_and_project_writes(b: accord_store::Backend) {
    let s = start(b).await;
    let key = create_key(&s, json!({"name": "ops", "role": "admin"})).await;
    let secret = key["apiKey"].as_str().unwrap().to_string();
    let own = org_path(s.org, &format!("/api-keys/{}", key["id"].as_str().unwrap()));
    let keys = org_path(s.org, "/api-keys");
    let project = s.project_path("");
    for _ in 0..2 {
        assert_eq!(call(&s, &secret, Method::GET, &keys, None).await.0, 200);
        let (status, p) = call(&s, &secret, Method::GET, &project, None).await;
        assert_eq!((status, p["name"].clone()), (200, json!("Website")), "{p}");
    }
    // The project renamed: the next read by the same key shows the new name.
    let (status, renamed) = s.patch(&project, json!({"name": "Storefront"})).await;
    assert_eq!(status, 200, "{renamed}");
    let (status, p) = call(&s, &secret, Method::GET, &project, None).await;
    assert_eq!(
        (status, p["name"].clone()),
        (200, json!("Storefront")),
        "{p}"
    );
    // Demoted to viewer: the key list is refused at once, the project still readable.
    let (status, demoted) = s.patch(&own, json!({"role": "viewer"})).await;
    assert_eq!(
        (status, demoted["role"].clone()),
        (200, json!("viewer")),
        "{demoted}"
    );
    assert_error(
        &call(&s, &secret, Method::GET, &keys, None).await,
        403,
        "Forbidden",
    );
    assert_eq!(call(&s, &secret, Method::GET, &project, None).await.0, 200);
    // Scoped to another project only: this project is refused at once.
    let other = create_project(&s, json!({"name": "Blog"})).await;
    let (status, scoped) = s
        .patch(
            &own,
            json!({"role": "none", "permissions": [{"organizationId": s.org, "projectId": other["id"], "role": "viewer"}]}),
        )
        .await;
    assert_eq!(status, 200, "{scoped}");
    assert_error(
        &call(&s, &secret, Method::GET, &project, None).await,
        403,
        "Forbidden",
    );
    // Revoked: the next read is refused as an unknown key.
    let (status, gone) = s.delete(&own).await;
    assert_eq!(status, 200, "{gone}");
    assert_error(
        &call(
            &s,
            &secret,
            Method::GET,
            &other_project_path(&s, &other),
            None,
        )
        .await,
        401,
        "Invalid API key",
    );
}

fn other_project_path(s: &Server, project: &Value) -> String {
    org_path(
        s.org,
        &format!("/projects/{}", project["id"].as_str().unwrap()),
    )
}

async fn api_key_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    let shop = create_project(&s, json!({"name": "Shop Front"})).await;
    let a = create_key(&s, json!({"name": "Deploy bot", "role": "admin"})).await;
    let v = create_key(&s, json!({"name": "dashboard", "role": "viewer"})).await;
    create_key(&s, json!({"name": "Shop widget", "permissions": [{"organizationId": s.org, "projectId": shop["id"], "role": "limited"}]})).await;
    let sr = &s;
    let list = |q: String| async move { sr.get(&org_path(sr.org, &format!("/api-keys{q}"))).await };
    let (status, all) = list(String::new()).await;
    assert_eq!(status, 200);
    for item in all["items"].as_array().unwrap() {
        check_schema(&published::<ApiKeyView>(), item, "item").unwrap();
        assert!(item["apiKey"].as_str().unwrap().ends_with("****"));
    }
    assert_eq!(
        names(&all),
        ["Shop widget", "dashboard", "Deploy bot", "bootstrap"]
    );
    assert_eq!(
        names(&list("?sort=name&order=asc".into()).await.1),
        ["Deploy bot", "Shop widget", "bootstrap", "dashboard"]
    );
    assert_eq!(
        names(&list("?sort=role&order=asc".into()).await.1),
        ["Deploy bot", "Shop widget", "bootstrap", "dashboard"]
    );
    assert_eq!(
        names(&list("?name=D".into()).await.1),
        ["Shop widget", "dashboard", "Deploy bot"]
    );
    assert_eq!(
        names(&list("?role=admin&role=owner".into()).await.1),
        ["Deploy bot", "bootstrap"]
    );
    assert_eq!(names(&list("?role[]=none".into()).await.1), ["Shop widget"]);
    assert_eq!(
        names(
            &list(format!("?projectIds={}", shop["id"].as_str().unwrap()))
                .await
                .1
        ),
        ["Shop widget"]
    );
    assert_eq!(
        list(format!("?projectIds={}", s.project)).await.1["total"],
        0
    );
    assert_eq!(
        names(&list("?projectName=front".into()).await.1),
        ["Shop widget"]
    );
    // A full secret finds its key by hash; a shorter value is a prefix of the display form.
    let secret = v["apiKey"].as_str().unwrap();
    assert_eq!(
        names(&list(format!("?apiKey={secret}")).await.1),
        ["dashboard"]
    );
    let (_, by_prefix) = list(format!("?apiKey={}", &a["apiKey"].as_str().unwrap()[..7])).await;
    assert!(names(&by_prefix).contains(&"Deploy bot".to_string()));
    assert_eq!(list("?apiKey=ak_notakeyatall".into()).await.1["total"], 0);
    let (_, page) = list("?sort=name&order=asc&offset=1&limit=2".into()).await;
    assert_eq!(names(&page), ["Shop widget", "bootstrap"]);
    assert_eq!(page["total"], 4);
    assert_error(
        &list("?role=root".into()).await,
        400,
        "querystring/role must be equal to one of the allowed values: owner, admin, limited, viewer, none",
    );
    assert_error(
        &list("?projectIds=nope".into()).await,
        400,
        "querystring/projectIds must match format \"uuid\"",
    );
    assert_error(
        &list("?sort=apiKey".into()).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, name, role",
    );
}

async fn permissions_and_subscription(b: accord_store::Backend) {
    let s = start(b).await;
    let shop = create_project(&s, json!({"name": "Shop"})).await;
    let shop_id: Uuid = shop["id"].as_str().unwrap().parse().unwrap();
    let path = org_path(s.org, "/permissions");
    let (status, mine) = s.get(&path).await;
    assert_eq!(status, 200);
    check_schema(&published::<CallerPermissions>(), &mine, "permissions").unwrap();
    assert_eq!(mine["organizationId"], json!(s.org));
    assert_eq!(mine["organizationName"], "Acme");
    assert_eq!(mine["apiKeyId"], own_key(&s).await["id"]);
    assert_eq!(mine["role"], "owner");
    assert_eq!(mine["projects"].as_array().unwrap().len(), 2);
    assert!(mine["projects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["role"] == "owner"));

    let scoped = s
        .key_with(Role::None, vec![(s.org, Some(shop_id), Role::Limited)])
        .await;
    let (status, theirs) = call(&s, &scoped, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(theirs["role"], "none");
    let mut roles: Vec<(String, String)> = theirs["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["projectName"].as_str().unwrap().into(),
                p["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            ("Shop".into(), "limited".into()),
            ("Website".into(), "none".into())
        ]
    );
    let nobody = s.key_with(Role::None, vec![]).await;
    assert_error(
        &call(&s, &nobody, Method::GET, &path, None).await,
        403,
        "Forbidden",
    );
    let o = other_org(&s).await;
    assert_error(
        &s.get(&org_path(o.organization.id, "/permissions")).await,
        403,
        "Forbidden",
    );

    let (status, sub) = s.get(&org_path(s.org, "/subscription")).await;
    assert_eq!(status, 200);
    assert_eq!(
        sub,
        json!({"plan": "self_hosted", "interval": null, "addons": {}})
    );
    check_schema(&published::<Subscription>(), &sub, "subscription").unwrap();
}

async fn openapi_lists_the_endpoints(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/organizations", &["get", "post"][..]),
        (
            "/organizations/{organizationId}",
            &["get", "patch", "delete"][..],
        ),
        (
            "/organizations/{organizationId}/projects",
            &["get", "post"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}",
            &["get", "patch", "delete"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/identify-secret",
            &["post"][..],
        ),
        (
            "/organizations/{organizationId}/api-keys",
            &["get", "post"][..],
        ),
        (
            "/organizations/{organizationId}/api-keys/{apiKeyId}",
            &["get", "patch", "delete"][..],
        ),
        ("/organizations/{organizationId}/permissions", &["get"][..]),
        ("/organizations/{organizationId}/subscription", &["get"][..]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path}");
        }
    }
    let body = &paths["/organizations/{organizationId}/api-keys"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    assert_eq!(body["additionalProperties"], false);
    assert_eq!(
        body["properties"]["permissions"]["items"]["required"],
        json!(["organizationId", "role"])
    );
}

/// Values that cannot be empty are declared so, which publishes them as `minLength` and
/// rejects `""` with the message of the rule; references checked against stored data are
/// described on their property.
async fn body_rules_checked_in_code_are_published(b: accord_store::Backend) {
    let s = start(b).await;
    let org = org_path(s.org, "");
    for (path, method, body, message) in [
        (
            org.clone(),
            Method::PATCH,
            json!({"defaultProjectId": ""}),
            "body/defaultProjectId must match format \"uuid\"",
        ),
        (
            org.clone(),
            Method::PATCH,
            json!({"name": ""}),
            "body/name must NOT have fewer than 1 characters",
        ),
        (
            format!("{org}/projects/{}", s.project),
            Method::PATCH,
            json!({"dataSystemIds": [""]}),
            "body/dataSystemIds/0 must match format \"uuid\"",
        ),
        (
            format!("{org}/api-keys"),
            Method::POST,
            json!({"permissions": [{"organizationId": "", "role": "viewer"}]}),
            "body/permissions/0/organizationId must match format \"uuid\"",
        ),
        (
            format!("{org}/emails"),
            Method::POST,
            json!({"email": ""}),
            "body/email must match format \"email\"",
        ),
    ] {
        let got = call(&s, &s.key, method, &path, Some(body)).await;
        assert_error(&got, 400, message);
    }

    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let props = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]
            .clone()
    };
    let patch_org = props("/organizations/{organizationId}", "patch");
    assert_eq!(patch_org["defaultProjectId"]["minLength"], 1);
    assert!(patch_org["defaultProjectId"]["description"].is_string());
    let patch_project = props(
        "/organizations/{organizationId}/projects/{projectId}",
        "patch",
    );
    assert_eq!(patch_project["dataSystemIds"]["items"]["minLength"], 1);
    assert!(patch_project["sendFromEmailId"]["description"].is_string());
    let key = props("/organizations/{organizationId}/api-keys", "post");
    let entry = &key["permissions"]["items"]["properties"];
    assert_eq!(entry["organizationId"]["minLength"], 1);
    assert!(entry["projectId"].get("minLength").is_none());
    let email = props("/organizations/{organizationId}/emails", "post");
    assert_eq!(email["email"]["minLength"], 1);
}
