//! §7.5 Users and the `users` count of §7.11: membership records with their defaults,
//! uniqueness, roles and per-project permissions, one account per email across
//! organizations, the owner rule of §2.3, and no `inviteCode` in any answer.
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use accord_core::schema::published;
use accord_core::store::bootstrap;
use accord_core::users::{UserView, EMAIL_TAKEN};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    user_create_read_and_defaults,
    user_body_validation,
    user_uniqueness_and_projects,
    account_shared_across_organizations,
    user_patch,
    user_roles_and_scope,
    user_owner_rules,
    user_list_filters_and_sort,
    features_count_users,
    organization_delete_removes_users,
    users_are_documented,
);

fn users_path(org: impl std::fmt::Display) -> String {
    format!("/privacy-v1/organizations/{org}/users")
}

fn user_path(org: impl std::fmt::Display, id: &Value) -> String {
    format!(
        "/privacy-v1/organizations/{org}/users/{}",
        id.as_str().unwrap()
    )
}

async fn rows(s: &Server, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&s.store.db.read)
        .await
        .unwrap()
}

async fn user_rows(s: &Server) -> i64 {
    rows(
        s,
        &format!(
            "SELECT COUNT(*) FROM users WHERE organization_id = '{}'",
            s.org
        ),
    )
    .await
}

async fn account_rows(s: &Server) -> i64 {
    rows(s, "SELECT COUNT(*) FROM accounts").await
}

/// Checks the answer against the published schema and that no `inviteCode` is in it.
fn check_user(u: &Value) {
    check_schema(&published::<UserView>(), u, "user").unwrap();
    assert!(!u.to_string().contains("inviteCode"), "{u}");
}

async fn create_user(s: &Server, body: Value) -> Value {
    let (status, u) = s.post(&users_path(s.org), body).await;
    assert_eq!(status, 201, "{u}");
    check_user(&u);
    u
}

async fn user_create_read_and_defaults(b: accord_store::Backend) {
    let s = start(b).await;
    let u = create_user(&s, json!({"email": "  Ada@Example.com "})).await;
    assert_eq!(u["email"], "Ada@Example.com");
    assert_eq!(u["status"], "pending");
    assert_eq!(u["role"], "viewer");
    assert_eq!(u["permissions"], json!([]));
    assert_eq!(u["organizationId"], json!(s.org));
    assert_eq!(u["organizationName"], "Acme");
    assert_eq!(u["inviteDate"], u["dateCreated"]);
    assert_eq!(u["dateUpdated"], u["dateCreated"]);
    assert_eq!(
        u["account"],
        json!({"id": u["accountId"], "email": "Ada@Example.com"})
    );
    assert!(u.get("name").is_none() && u.get("notes").is_none(), "{u}");
    let id = u["id"].as_str().unwrap();
    assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let full = create_user(
        &s,
        json!({
            "email": "grace@example.com", "name": "Grace", "notes": "DPO",
            "role": "admin",
            "permissions": [{"projectId": s.project, "role": "limited"}],
            "account": {"firstName": "Grace", "lastName": "Hopper", "phoneNumber": "+1 555"}
        }),
    )
    .await;
    assert_eq!(full["name"], "Grace");
    assert_eq!(full["notes"], "DPO");
    assert_eq!(full["role"], "admin");
    assert_eq!(
        full["permissions"],
        json!([{"projectId": s.project, "projectName": "Website", "role": "limited"}])
    );
    assert_eq!(
        full["account"],
        json!({"id": full["accountId"], "email": "grace@example.com", "firstName": "Grace",
               "lastName": "Hopper", "phoneNumber": "+1 555"})
    );
    assert_ne!(full["accountId"], u["accountId"]);

    let (status, got) = s.get(&user_path(s.org, &full["id"])).await;
    assert_eq!((status, &got), (200, &full));
    let (status, list) = s.get(&users_path(s.org)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (list["total"].clone(), list["count"].clone()),
        (json!(2), json!(2))
    );
    for item in list["items"].as_array().unwrap() {
        check_user(item);
    }
    let missing = format!("{}/{}", users_path(s.org), Uuid::now_v7());
    assert_error(&s.get(&missing).await, 404, "Not Found");
    assert_error(
        &s.get(&format!("{}/nope", users_path(s.org))).await,
        400,
        "params/userId must match format \"uuid\"",
    );
}

async fn user_body_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = users_path(s.org);
    for (body, message) in [
        (json!({}), "body must have required property 'email'"),
        (json!({"email": "nope"}), "body/email must match format \"email\""),
        (json!({"email": ""}), "body/email must match format \"email\""),
        (json!({"email": null}), "body/email must be string"),
        (
            json!({"email": "a@example.com", "status": "active"}),
            "body must NOT have additional properties: 'status'",
        ),
        (
            json!({"email": "a@example.com", "inviteCode": "x"}),
            "body must NOT have additional properties: 'inviteCode'",
        ),
        (
            json!({"email": "a@example.com", "role": "root"}),
            "body/role must be equal to one of the allowed values: owner, admin, limited, viewer, none",
        ),
        (
            json!({"email": "a@example.com", "name": "x".repeat(257)}),
            "body/name must NOT have more than 256 characters",
        ),
        (
            json!({"email": "a@example.com", "notes": "x".repeat(2049)}),
            "body/notes must NOT have more than 2048 characters",
        ),
        (
            json!({"email": "a@example.com", "name": null}),
            "body/name must be string",
        ),
        (
            json!({"email": "a@example.com", "permissions": {}}),
            "body/permissions must be array",
        ),
        (
            json!({"email": "a@example.com", "permissions": [{"projectId": "x", "role": "admin"}]}),
            "body/permissions/0/projectId must match format \"uuid\"",
        ),
        (
            json!({"email": "a@example.com", "permissions": [{"projectId": s.project}]}),
            "body/permissions/0 must have required property 'role'",
        ),
        (
            json!({"email": "a@example.com", "permissions": [{"projectId": s.project, "role": "boss"}]}),
            "body/permissions/0/role must be equal to one of the allowed values: owner, admin, limited, viewer, none",
        ),
        (
            json!({"email": "a@example.com", "permissions": [{"projectId": s.project, "role": "admin", "projectName": "x"}]}),
            "body/permissions/0 must NOT have additional properties: 'projectName'",
        ),
        (
            json!({"email": "a@example.com", "account": {"email": "b@example.com"}}),
            "body/account must NOT have additional properties: 'email'",
        ),
        (
            json!({"email": "a@example.com", "account": {"firstName": "x".repeat(257)}}),
            "body/account/firstName must NOT have more than 256 characters",
        ),
        (
            json!({"email": "a@example.com", "account": {"phoneNumber": "1".repeat(129)}}),
            "body/account/phoneNumber must NOT have more than 128 characters",
        ),
    ] {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    assert_eq!((user_rows(&s).await, account_rows(&s).await), (0, 0));
    let (status, _) = send(
        s.req(Method::POST, &path)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_eq!(status, 415);

    let u = create_user(&s, json!({"email": "a@example.com"})).await;
    let one = user_path(s.org, &u["id"]);
    for (body, message) in [
        (json!({}), "body must NOT have fewer than 1 properties"),
        (
            json!({"email": "b@example.com"}),
            "body must NOT have additional properties: 'email'",
        ),
        (
            json!({"status": "gone"}),
            "body/status must be equal to one of the allowed values: pending, active, disabled",
        ),
        (json!({"status": null}), "body/status must be string"),
    ] {
        assert_error(&s.patch(&one, body).await, 400, message);
    }
    // Body validation comes before the existence of the user.
    let missing = format!("{}/{}", users_path(s.org), Uuid::now_v7());
    assert_error(
        &s.patch(&missing, json!({"status": "gone"})).await,
        400,
        "body/status must be equal to one of the allowed values: pending, active, disabled",
    );
    assert_error(
        &s.patch(&missing, json!({"status": "active"})).await,
        404,
        "Not Found",
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, u, "a refused PATCH stores nothing");
}

async fn user_uniqueness_and_projects(b: accord_store::Backend) {
    let s = start(b).await;
    let path = users_path(s.org);
    create_user(&s, json!({"email": "ada@example.com"})).await;
    assert_error(
        &s.post(&path, json!({"email": "ADA@example.com", "name": "again"}))
            .await,
        422,
        EMAIL_TAKEN,
    );
    let other_project = {
        let (status, p) = s
            .post(
                &format!("/privacy-v1/organizations/{}/projects", s.org),
                json!({"name": "Second"}),
            )
            .await;
        assert_eq!(status, 201, "{p}");
        p["id"].clone()
    };
    let foreign = bootstrap(s.store.as_ref(), "Other", "Theirs", vec![], "k")
        .await
        .unwrap();
    let unknown = Uuid::now_v7();
    for (body, message) in [
        (
            json!({"email": "b@example.com", "permissions": [{"projectId": unknown, "role": "admin"}]}),
            format!(
                "permissions/0/projectId not found in organization {}",
                s.org
            ),
        ),
        (
            json!({"email": "b@example.com", "permissions": [
                {"projectId": s.project, "role": "admin"},
                {"projectId": foreign.project.id, "role": "admin"}]}),
            format!(
                "permissions/1/projectId not found in organization {}",
                s.org
            ),
        ),
        (
            json!({"email": "b@example.com", "permissions": [
                {"projectId": s.project, "role": "admin"},
                {"projectId": other_project, "role": "viewer"},
                {"projectId": s.project.to_string().to_uppercase(), "role": "viewer"}]}),
            "permissions/2 duplicates an earlier entry for the same project".to_string(),
        ),
    ] {
        assert_error(&s.post(&path, body).await, 422, &message);
    }
    assert_eq!((user_rows(&s).await, account_rows(&s).await), (1, 1));
    // Per-project roles override in both directions and keep their order.
    let u = create_user(
        &s,
        json!({"email": "b@example.com", "role": "admin", "permissions": [
            {"projectId": other_project, "role": "none"},
            {"projectId": s.project, "role": "viewer"}]}),
    )
    .await;
    assert_eq!(
        u["permissions"],
        json!([
            {"projectId": other_project, "projectName": "Second", "role": "none"},
            {"projectId": s.project, "projectName": "Website", "role": "viewer"}
        ])
    );
    // The same 422 rules on a PATCH, which then stores nothing.
    let one = user_path(s.org, &u["id"]);
    assert_error(
        &s.patch(
            &one,
            json!({"name": "x", "permissions": [{"projectId": unknown, "role": "admin"}]}),
        )
        .await,
        422,
        &format!(
            "permissions/0/projectId not found in organization {}",
            s.org
        ),
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, u);
}

async fn account_shared_across_organizations(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, org_b) = s
        .post("/privacy-v1/organizations", json!({"name": "Beta"}))
        .await;
    assert_eq!(status, 201, "{org_b}");
    let org_b = org_b["id"].as_str().unwrap().to_string();
    let a = create_user(
        &s,
        json!({"email": "ada@example.com", "account": {"firstName": "Ada"}}),
    )
    .await;
    let (status, b_user) = s
        .post(
            &users_path(&org_b),
            json!({"email": "Ada@EXAMPLE.com", "account": {"lastName": "L"}}),
        )
        .await;
    assert_eq!(status, 201, "{b_user}");
    check_user(&b_user);
    assert_eq!(b_user["accountId"], a["accountId"]);
    assert_eq!(b_user["account"]["id"], a["accountId"]);
    assert_eq!(b_user["organizationName"], "Beta");
    // What one organization writes about the person stays with that organization.
    assert_eq!(
        b_user["account"],
        json!({"id": a["accountId"], "email": "Ada@EXAMPLE.com", "lastName": "L"})
    );
    let (_, a_again) = s.get(&user_path(s.org, &a["id"])).await;
    assert_eq!(a_again, a);
    let other = create_user(&s, json!({"email": "bob@example.com"})).await;
    assert_ne!(other["accountId"], a["accountId"]);
    assert_eq!(account_rows(&s).await, 2);
    // The account stays while a membership holds it, and goes with the last one.
    assert_eq!(s.delete(&user_path(s.org, &a["id"])).await.0, 200);
    assert_eq!(account_rows(&s).await, 2);
    assert_eq!(s.delete(&user_path(&org_b, &b_user["id"])).await.0, 200);
    assert_eq!(account_rows(&s).await, 1);
    // A new membership of the same email gets a new account.
    let again = create_user(&s, json!({"email": "ada@example.com"})).await;
    assert_ne!(again["accountId"], a["accountId"]);
}

async fn user_patch(b: accord_store::Backend) {
    let s = start(b).await;
    let u = create_user(
        &s,
        json!({"email": "ada@example.com", "name": "Ada", "notes": "n",
               "permissions": [{"projectId": s.project, "role": "admin"}],
               "account": {"firstName": "Ada", "lastName": "L"}}),
    )
    .await;
    let one = user_path(s.org, &u["id"]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, p) = s
        .patch(
            &one,
            json!({"status": "active", "role": "limited", "notes": "",
                   "permissions": [], "account": {"firstName": "Augusta", "phoneNumber": "123"}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    check_user(&p);
    assert_eq!(p["status"], "active");
    assert_eq!(p["role"], "limited");
    assert_eq!(p["name"], "Ada");
    assert!(p.get("notes").is_none(), "{p}");
    assert_eq!(p["permissions"], json!([]));
    assert_eq!(
        p["account"],
        json!({"id": u["accountId"], "email": "ada@example.com", "firstName": "Augusta",
               "lastName": "L", "phoneNumber": "123"})
    );
    assert_eq!(p["email"], u["email"]);
    assert_eq!(p["dateCreated"], u["dateCreated"]);
    assert_eq!(p["inviteDate"], u["inviteDate"]);
    assert!(p["dateUpdated"].as_i64() > u["dateUpdated"].as_i64());
    let (_, got) = s.get(&one).await;
    assert_eq!(got, p);
    let (status, p) = s
        .patch(&one, json!({"status": "disabled", "name": ""}))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], "disabled");
    assert!(p.get("name").is_none(), "{p}");
    // DELETE answers the removed user; it is gone afterwards.
    let (status, removed) = s.delete(&one).await;
    assert_eq!((status, &removed), (200, &p));
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_eq!(rows(&s, "SELECT COUNT(*) FROM user_permissions").await, 0);
}

async fn user_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let u = create_user(&s, json!({"email": "ada@example.com"})).await;
    let list = users_path(s.org);
    let one = user_path(s.org, &u["id"]);
    let calls = |list: &str, one: &str| {
        vec![
            (Method::GET, list.to_string(), None),
            (
                Method::POST,
                list.to_string(),
                Some(json!({"email": "x@example.com"})),
            ),
            (Method::GET, one.to_string(), None),
            (Method::PATCH, one.to_string(), Some(json!({"name": "x"}))),
            (Method::DELETE, one.to_string(), None),
        ]
    };
    let limited = s.key_with(Role::Limited, vec![]).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let project_admin = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    for key in [&limited, &viewer, &project_admin] {
        for (m, p, body) in calls(&list, &one) {
            assert_error(&call(&s, key, m, &p, body).await, 403, "Forbidden");
        }
    }
    // An admin of the organization manages users.
    let admin = s.key_with(Role::Admin, vec![]).await;
    for (m, p, body) in calls(&list, &one) {
        let (status, got) = call(&s, &admin, m, &p, body).await;
        assert!(status == 200 || status == 201, "{status} {got}");
    }
    // Another organization: 403 and no data, whatever the user id.
    let theirs = bootstrap(s.store.as_ref(), "Other", "Theirs", vec![], "k")
        .await
        .unwrap();
    let (status, their_user) = call(
        &s,
        &theirs.secret,
        Method::POST,
        &users_path(theirs.organization.id),
        Some(json!({"email": "them@example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{their_user}");
    let their_one = user_path(theirs.organization.id, &their_user["id"]);
    for (m, p, body) in calls(&users_path(theirs.organization.id), &their_one) {
        assert_error(&call(&s, &s.key, m, &p, body).await, 403, "Forbidden");
    }
    // A missing organization is a 403 too.
    assert_error(&s.get(&users_path(Uuid::now_v7())).await, 403, "Forbidden");
    // Their user under our organization does not exist here.
    let crossed = user_path(s.org, &their_user["id"]);
    assert_error(&s.get(&crossed).await, 404, "Not Found");
    assert_error(
        &s.patch(&crossed, json!({"name": "x"})).await,
        404,
        "Not Found",
    );
    assert_error(&s.delete(&crossed).await, 404, "Not Found");
    let (_, still) = call(&s, &theirs.secret, Method::GET, &their_one, None).await;
    assert_eq!(still, their_user);
    assert_eq!(
        rows(
            &s,
            &format!(
                "SELECT COUNT(*) FROM users WHERE organization_id = '{}'",
                theirs.organization.id
            )
        )
        .await,
        1
    );
    // Without credentials.
    let (status, _) = send(s.client.get(s.url(&list))).await;
    assert_eq!(status, 401);
}

async fn user_owner_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let list = users_path(s.org);
    let admin = s.key_with(Role::Admin, vec![]).await;
    let as_admin = |m: Method, p: String, body: Option<Value>| {
        let (s, admin) = (&s, &admin);
        async move { call(s, admin, m, &p, body).await }
    };
    let (status, plain) = as_admin(
        Method::POST,
        list.clone(),
        Some(json!({"email": "plain@example.com", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let owner = create_user(&s, json!({"email": "owner@example.com", "role": "owner"})).await;
    let project_owner = create_user(
        &s,
        json!({"email": "po@example.com", "permissions": [{"projectId": s.project, "role": "owner"}]}),
    )
    .await;
    assert_eq!(owner["role"], "owner");
    let before = user_rows(&s).await;
    let plain_path = user_path(s.org, &plain["id"]);
    let owner_path = user_path(s.org, &owner["id"]);
    let po_path = user_path(s.org, &project_owner["id"]);
    let forbidden = [
        (
            Method::POST,
            list.clone(),
            Some(json!({"email": "n@example.com", "role": "owner"})),
        ),
        (
            Method::POST,
            list.clone(),
            Some(
                json!({"email": "n@example.com", "permissions": [{"projectId": s.project, "role": "owner"}]}),
            ),
        ),
        (
            Method::PATCH,
            plain_path.clone(),
            Some(json!({"role": "owner"})),
        ),
        (
            Method::PATCH,
            plain_path.clone(),
            Some(json!({"permissions": [{"projectId": s.project, "role": "owner"}]})),
        ),
        (
            Method::PATCH,
            owner_path.clone(),
            Some(json!({"name": "mine"})),
        ),
        (
            Method::PATCH,
            owner_path.clone(),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            po_path.clone(),
            Some(json!({"permissions": []})),
        ),
        (Method::DELETE, owner_path.clone(), None),
        (Method::DELETE, po_path.clone(), None),
    ];
    for (m, p, body) in forbidden {
        assert_error(&as_admin(m, p, body).await, 403, "Forbidden");
    }
    assert_eq!(
        user_rows(&s).await,
        before,
        "a refused request stores nothing"
    );
    let (_, o) = s.get(&owner_path).await;
    assert_eq!(o, owner);
    // 404 before the owner rule; the owner rule before the 422 rules.
    let missing = format!("{list}/{}", Uuid::now_v7());
    assert_error(
        &as_admin(Method::PATCH, missing, Some(json!({"role": "owner"}))).await,
        404,
        "Not Found",
    );
    assert_error(
        &as_admin(
            Method::POST,
            list.clone(),
            Some(json!({"email": "plain@example.com", "role": "owner"})),
        )
        .await,
        403,
        "Forbidden",
    );
    // Admins manage everyone else.
    let (status, p) = as_admin(
        Method::PATCH,
        plain_path.clone(),
        Some(json!({"role": "limited"})),
    )
    .await;
    assert_eq!((status, p["role"].clone()), (200, json!("limited")));
    // An owner may do it all; no last-owner rule binds users, who hold no credential.
    let (status, p) = s.patch(&plain_path, json!({"role": "owner"})).await;
    assert_eq!((status, p["role"].clone()), (200, json!("owner")));
    assert_eq!(s.patch(&owner_path, json!({"role": "viewer"})).await.0, 200);
    assert_eq!(s.delete(&po_path).await.0, 200);
    assert_eq!(s.delete(&plain_path).await.0, 200);
}

async fn user_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    let path = users_path(s.org);
    let c = create_user(&s, json!({"email": "carol@example.com", "name": "Carol"})).await;
    let a = create_user(&s, json!({"email": "Alice@Example.org"})).await;
    let bb = create_user(&s, json!({"email": "bob@example.com", "name": "Bob"})).await;
    s.patch(&user_path(s.org, &bb["id"]), json!({"status": "active"}))
        .await;
    let emails = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, list) = s.get(&path).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        emails(&list),
        ["bob@example.com", "Alice@Example.org", "carol@example.com"]
    );
    let (_, list) = s.get(&format!("{path}?sort=email&order=asc")).await;
    assert_eq!(
        emails(&list),
        ["Alice@Example.org", "bob@example.com", "carol@example.com"]
    );
    // Users without a name come last in either direction.
    let (_, list) = s.get(&format!("{path}?sort=name&order=asc")).await;
    assert_eq!(
        emails(&list),
        ["bob@example.com", "carol@example.com", "Alice@Example.org"]
    );
    let (_, list) = s.get(&format!("{path}?sort=name")).await;
    assert_eq!(
        emails(&list),
        ["carol@example.com", "bob@example.com", "Alice@Example.org"]
    );
    let (_, list) = s.get(&format!("{path}?email=EXAMPLE.COM")).await;
    assert_eq!(list["total"], 2);
    let (_, list) = s.get(&format!("{path}?status=active")).await;
    assert_eq!(emails(&list), ["bob@example.com"]);
    let (_, list) = s
        .get(&format!("{path}?status=pending&status=disabled"))
        .await;
    assert_eq!(list["total"], 2);
    let (_, list) = s
        .get(&format!(
            "{path}?sort=dateCreated&order=asc&offset=1&limit=1"
        ))
        .await;
    assert_eq!(
        (
            list["offset"].clone(),
            list["count"].clone(),
            list["total"].clone()
        ),
        (json!(1), json!(1), json!(3))
    );
    assert_eq!(list["items"][0]["id"], a["id"]);
    assert_ne!(list["items"][0]["id"], c["id"]);
    for (q, message) in [
        ("sort=role", "querystring/sort must be equal to one of the allowed values: dateCreated, email, name"),
        ("status=gone", "querystring/status must be equal to one of the allowed values: pending, active, disabled"),
        ("limit=0", "querystring/limit must be >= 1"),
    ] {
        assert_error(&s.get(&format!("{path}?{q}")).await, 400, message);
    }
}

async fn features_count_users(b: accord_store::Backend) {
    let s = start(b).await;
    let path = format!("/privacy-v1/organizations/{}/features", s.org);
    let (_, f) = s.get(&path).await;
    assert_eq!(
        f["users"],
        json!({"licensed": null, "used": 0, "available": null})
    );
    let u = create_user(&s, json!({"email": "a@example.com"})).await;
    create_user(&s, json!({"email": "b@example.com"})).await;
    let theirs = bootstrap(s.store.as_ref(), "Other", "Theirs", vec![], "k")
        .await
        .unwrap();
    call(
        &s,
        &theirs.secret,
        Method::POST,
        &users_path(theirs.organization.id),
        Some(json!({"email": "a@example.com"})),
    )
    .await;
    let (status, f) = s.get(&path).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(
        f["users"],
        json!({"licensed": null, "used": 2, "available": null})
    );
    s.delete(&user_path(s.org, &u["id"])).await;
    let (_, f) = s.get(&path).await;
    assert_eq!(f["users"]["used"], 1);
}

async fn organization_delete_removes_users(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, org) = s
        .post("/privacy-v1/organizations", json!({"name": "Doomed"}))
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_string();
    let (status, u) = s
        .post(
            &users_path(&org),
            json!({"email": "gone@example.com", "permissions": []}),
        )
        .await;
    assert_eq!(status, 201, "{u}");
    create_user(&s, json!({"email": "kept@example.com"})).await;
    assert_eq!(account_rows(&s).await, 2);
    let (status, body) = s.delete(&format!("/privacy-v1/organizations/{org}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows(
            &s,
            &format!("SELECT COUNT(*) FROM users WHERE organization_id = '{org}'")
        )
        .await,
        0
    );
    assert_eq!(account_rows(&s).await, 1);
    assert_eq!(user_rows(&s).await, 1);
}

async fn users_are_documented(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let paths = &doc["paths"];
    for (path, methods) in [
        (
            "/organizations/{organizationId}/users",
            &["get", "post"][..],
        ),
        (
            "/organizations/{organizationId}/users/{userId}",
            &["get", "patch", "delete"][..],
        ),
    ] {
        for m in methods {
            assert_eq!(paths[path][m]["tags"], json!(["Users"]), "{m} {path}");
        }
    }
    let create = &paths["/organizations/{organizationId}/users"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    assert_eq!(create["required"], json!(["email"]));
    assert!(create["properties"].get("status").is_none());
    let patch = &paths["/organizations/{organizationId}/users/{userId}"]["patch"]["requestBody"]
        ["content"]["application/json"]["schema"];
    assert!(patch["properties"].get("email").is_none());
    assert!(patch["properties"]["status"].is_object());
    assert!(!doc.to_string().contains("inviteCode"));
}
