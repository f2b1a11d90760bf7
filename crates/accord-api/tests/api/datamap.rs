//! §6: data systems, the nine attribute kinds and their predefined read-only values, the
//! all-attributes list, data-system tasks on compliance requests, and the record of
//! processing (JSON and CSV).
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use accord_core::datamap::{global_attribute_id, AttributeKind};
use accord_core::store::bootstrap;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    data_system_create_read_and_defaults,
    data_system_body_validation,
    data_system_links_patch_and_clear,
    data_system_list_filters_and_sort,
    data_system_delete_and_tasks,
    predefined_attributes_in_every_organization,
    attribute_crud_for_every_kind,
    attribute_rules,
    all_attributes_list,
    datamap_roles_and_scope,
    record_of_processing_json,
    record_of_processing_csv,
    datamap_openapi,
    links_to_attributes_deleted_meanwhile_are_422,
    body_rules_checked_in_code_are_published,
);

fn org_path(s: &Server, rest: &str) -> String {
    format!("/privacy-v1/organizations/{}{rest}", s.org)
}

async fn create_system(s: &Server, body: Value) -> Value {
    let (status, v) = s.post(&org_path(s, "/data-systems"), body).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn create_attr(s: &Server, kind: &str, body: Value) -> Value {
    let (status, v) = s
        .post(&org_path(s, &format!("/data-system-{kind}")), body)
        .await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn named(s: &Server, kind: &str, name: &str) -> Value {
    create_attr(s, kind, json!({"name": name, "status": "active"})).await
}

/// The id of a predefined value of `kind` in this organization.
async fn predefined(s: &Server, kind: &str, name: &str) -> String {
    let (status, list) = s
        .get(&org_path(s, &format!("/data-system-{kind}?limit=1000")))
        .await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn contact_type(s: &Server, name: &str) -> String {
    let (_, list) = s
        .get(&org_path(
            s,
            "/data-system-attributes?attributeName=dataSystemContactTypes",
        ))
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The response schema the published document declares for `method path` (status `ok`).
async fn response_schema(s: &Server, path: &str, method: &str, ok: &str) -> Value {
    let (_, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    doc["paths"][path][method]["responses"][ok]["content"]["application/json"]["schema"].clone()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

async fn data_system_create_read_and_defaults(b: accord_store::Backend) {
    let s = start(b).await;
    let sys = create_system(&s, json!({"name": "CRM", "status": "active"})).await;
    let id = sys["id"].as_str().unwrap();
    assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(sys["organizationId"], json!(s.org));
    assert_eq!(sys["organizationName"], "Acme");
    assert_eq!(sys["name"], "CRM");
    assert_eq!(sys["status"], "active");
    assert_eq!(sys["crossBorder"], false);
    assert_eq!(sys["retention"], "P2Y");
    assert_eq!(sys["dataSystemTypeId"], "custom");
    assert_eq!(
        sys["dataSystemType"],
        json!({"id": "custom", "name": "Custom"})
    );
    assert_eq!(sys["projectIds"], json!([]));
    for field in [
        "dataSystemContacts",
        "dataSystemDestinations",
        "dataSystemOrigins",
        "processingActivities",
        "dataSystemProcessingPurposes",
        "dataSystemSecurityMeasures",
        "dataSystemDataCategories",
        "dataSystemDataSubjects",
    ] {
        assert_eq!(sys[field], json!([]), "{field}");
    }
    for absent in [
        "dataSystemRelationship",
        "additionalNotes",
        "icon",
        "globalDataSystemId",
        "createdAt",
    ] {
        assert!(sys.get(absent).is_none(), "{absent}");
    }
    assert!(sys["dateCreated"].as_i64().unwrap() > 1_600_000_000_000);
    let schema = response_schema(
        &s,
        "/organizations/{organizationId}/data-systems",
        "post",
        "201",
    )
    .await;
    check_schema(&schema, &sys, "dataSystem").unwrap();

    let (status, got) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(got, sys);

    // Every field set on create.
    let global = Uuid::new_v4();
    let full = create_system(
        &s,
        json!({"name": "Warehouse", "status": "test", "crossBorder": true, "retention": "P6M",
            "additionalNotes": "nightly", "dataSystemTypeId": "snowflake", "icon": "https://cdn.example.com/i.png",
            "globalDataSystemId": global.to_string().to_uppercase(), "projectIds": [s.project]}),
    )
    .await;
    assert_eq!(full["crossBorder"], true);
    assert_eq!(full["retention"], "P6M");
    assert_eq!(full["additionalNotes"], "nightly");
    assert_eq!(
        full["dataSystemType"],
        json!({"id": "snowflake", "name": "Snowflake"})
    );
    assert_eq!(full["icon"], "https://cdn.example.com/i.png");
    assert_eq!(full["globalDataSystemId"], json!(global));
    assert_eq!(full["projectIds"], json!([s.project]));
    check_schema(&schema, &full, "dataSystem").unwrap();
    // The project side sees the link.
    let (_, project) = s.get(&s.project_path("")).await;
    assert_eq!(project["dataSystems"][0]["id"], full["id"]);

    // Unknown system in the organization: 404.
    let (status, _) = s
        .get(&org_path(&s, &format!("/data-systems/{}", Uuid::now_v7())))
        .await;
    assert_eq!(status, 404);
}

async fn data_system_body_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(&s, "/data-systems");
    for (body, message) in [
        (json!({"status": "active"}), "body must have required property 'name'"),
        (json!({"name": "x"}), "body must have required property 'status'"),
        (
            json!({"name": "x", "status": "live"}),
            "body/status must be equal to one of the allowed values: active, archived, test",
        ),
        (
            json!({"name": "x", "status": "active", "foo": 1}),
            "body must NOT have additional properties: 'foo'",
        ),
        (json!({"name": null, "status": "active"}), "body/name must be string"),
        (json!({"name": "", "status": "active"}), "body/name must NOT have fewer than 1 characters"),
        (
            json!({"name": "x".repeat(257), "status": "active"}),
            "body/name must NOT have more than 256 characters",
        ),
        (
            json!({"name": "x", "status": "active", "crossBorder": "yes"}),
            "body/crossBorder must be boolean",
        ),
        (
            json!({"name": "x", "status": "active", "retention": "2 years"}),
            "body/retention must match pattern \"^P(?:[0-9]+Y(?:[0-9]+M)?(?:[0-9]+W)?(?:[0-9]+D)?|[0-9]+M(?:[0-9]+W)?(?:[0-9]+D)?|[0-9]+W(?:[0-9]+D)?|[0-9]+D)$\"",
        ),
        (
            json!({"name": "x", "status": "active", "additionalNotes": "n".repeat(1025)}),
            "body/additionalNotes must NOT have more than 1024 characters",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemTypeId": "t".repeat(65)}),
            "body/dataSystemTypeId must NOT have more than 64 characters",
        ),
        (
            json!({"name": "x", "status": "active", "icon": "ftp://example.com/i.png"}),
            "body/icon must match format \"uri\"",
        ),
        (
            json!({"name": "x", "status": "active", "globalDataSystemId": "abc"}),
            "body/globalDataSystemId must match format \"uuid\"",
        ),
        (
            json!({"name": "x", "status": "active", "projectIds": "abc"}),
            "body/projectIds must be array",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemContacts": [Uuid::nil(), "nope"]}),
            "body/dataSystemContacts/1 must match format \"uuid\"",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemRelationship": ["x"]}),
            "body/dataSystemRelationship must be string",
        ),
        (
            json!({"name": "x", "status": "active", "processingActivities": [], "dataSystemProcessingActivities": []}),
            "body must NOT have both properties: processingActivities, dataSystemProcessingActivities",
        ),
    ] {
        assert_error(&s.post(&path, body.clone()).await, 400, message);
    }
    // Nothing was stored.
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 0);

    // References that do not exist in the organization, or are of another kind: 422.
    let purpose = named(&s, "processing-purposes", "Billing").await;
    let other = bootstrap(s.store.as_ref(), "Other", "Site", vec![], "k")
        .await
        .unwrap();
    for (body, message) in [
        (
            json!({"name": "x", "status": "active", "dataSystemProcessingPurposes": [purpose["id"], Uuid::now_v7()]}),
            "dataSystemProcessingPurposes/1 not found in this organization",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemContacts": [purpose["id"]]}),
            "dataSystemContacts/0 not found in this organization",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemProcessingActivities": [Uuid::now_v7()]}),
            "dataSystemProcessingActivities/0 not found in this organization",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemRelationship": purpose["id"]}),
            "dataSystemRelationship not found in this organization",
        ),
        (
            json!({"name": "x", "status": "active", "projectIds": [s.project, other.project.id]}),
            "projectIds/1 not found in this organization",
        ),
    ] {
        assert_error(&s.post(&path, body.clone()).await, 422, message);
    }
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 0);

    // PATCH: empty body, unknown system, bad JSON and media type.
    let sys = create_system(&s, json!({"name": "x", "status": "active"})).await;
    let one = org_path(
        &s,
        &format!("/data-systems/{}", sys["id"].as_str().unwrap()),
    );
    assert_error(
        &s.patch(&one, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(
            &org_path(&s, &format!("/data-systems/{}", Uuid::now_v7())),
            json!({"name": "y"}),
        )
        .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&org_path(&s, "/data-systems/not-a-uuid")).await,
        400,
        "params/dataSystemId must match format \"uuid\"",
    );
    let raw = send(
        s.req(Method::PATCH, &one)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_error(&raw, 400, "body must be valid JSON");
    let text = send(
        s.req(Method::POST, &path)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_error(&text, 415, "Content-Type must be application/json");
}

async fn data_system_links_patch_and_clear(b: accord_store::Backend) {
    let s = start(b).await;
    let dpo = contact_type(&s, "Data Protection Officer").await;
    let contact = create_attr(
        &s,
        "contacts",
        json!({"name": "Jane", "status": "active", "email": "jane@example.com", "phoneNumber": "+1 555", "contactType": dpo}),
    )
    .await;
    let billing = named(&s, "processing-activities", "Billing").await;
    let support = named(&s, "processing-activities", "Support").await;
    let purpose = named(&s, "processing-purposes", "Contract").await;
    let measure = named(&s, "security-measures", "Encryption at rest").await;
    let category = create_attr(
        &s,
        "data-categories",
        json!({"name": "Health", "status": "active", "pIIType": "sensitive"}),
    )
    .await;
    let subject = named(&s, "data-subjects", "Customers").await;
    let destination = predefined(&s, "destinations", "Payment Processors").await;
    let origin = predefined(&s, "origins", "User Submitted Forms").await;
    let controller = predefined(&s, "relationships", "Controller").await;
    let processor = predefined(&s, "relationships", "Processor").await;

    let sys = create_system(
        &s,
        json!({"name": "CRM", "status": "active",
            "dataSystemContacts": [contact["id"]], "dataSystemDestinations": [destination],
            "dataSystemOrigins": [origin, origin], "processingActivities": [support["id"], billing["id"]],
            "dataSystemProcessingPurposes": [purpose["id"]], "dataSystemSecurityMeasures": [measure["id"]],
            "dataSystemDataCategories": [category["id"]], "dataSystemDataSubjects": [subject["id"]],
            "dataSystemRelationship": controller, "projectIds": [s.project, s.project]}),
    )
    .await;
    // Embedded attribute objects, sorted by name, without their dataSystems.
    assert_eq!(names(&sys["processingActivities"]), ["Billing", "Support"]);
    assert_eq!(ids(&sys["dataSystemOrigins"]), [origin.as_str()]);
    assert_eq!(sys["projectIds"], json!([s.project]));
    let embedded = &sys["dataSystemContacts"][0];
    assert_eq!(embedded["email"], "jane@example.com");
    assert_eq!(embedded["phoneNumber"], "+1 555");
    assert_eq!(
        embedded["contactType"],
        json!({"id": dpo, "name": "Data Protection Officer"})
    );
    assert!(embedded.get("dataSystems").is_none());
    assert_eq!(sys["dataSystemDataCategories"][0]["pIIType"], "sensitive");
    assert_eq!(sys["dataSystemRelationship"]["id"], json!(controller));
    assert_eq!(sys["dataSystemRelationship"]["readOnly"], true);
    assert_eq!(sys["dataSystemDestinations"][0]["readOnly"], true);
    let schema = response_schema(
        &s,
        "/organizations/{organizationId}/data-systems",
        "post",
        "201",
    )
    .await;
    check_schema(&schema, &sys, "dataSystem").unwrap();
    // The attribute side lists the system.
    let (_, got) = s
        .get(&org_path(
            &s,
            &format!("/data-system-contacts/{}", contact["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(
        got["dataSystems"],
        json!([{"id": sys["id"], "name": "CRM", "status": "active", "dataSystemTypeId": "custom"}])
    );

    // PATCH replaces only the link sets it names; the alias works too.
    let one = org_path(
        &s,
        &format!("/data-systems/{}", sys["id"].as_str().unwrap()),
    );
    let (status, patched) = s
        .patch(
            &one,
            json!({"dataSystemProcessingActivities": [billing["id"]], "dataSystemRelationship": processor,
                "dataSystemContacts": [], "crossBorder": true, "additionalNotes": "eu-west", "name": "CRM 2"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(names(&patched["processingActivities"]), ["Billing"]);
    assert_eq!(patched["dataSystemRelationship"]["name"], "Processor");
    assert_eq!(patched["dataSystemContacts"], json!([]));
    assert_eq!(
        patched["dataSystemDataCategories"],
        sys["dataSystemDataCategories"]
    );
    assert_eq!(patched["crossBorder"], true);
    assert_eq!(patched["name"], "CRM 2");
    assert_eq!(patched["projectIds"], json!([s.project]));
    assert!(patched["dateUpdated"].as_i64() >= sys["dateUpdated"].as_i64());
    assert_eq!(patched["dateCreated"], sys["dateCreated"]);

    // Empty strings clear optional fields and restore defaults; "" unlinks the relationship.
    let (status, cleared) = s
        .patch(
            &one,
            json!({"additionalNotes": "", "dataSystemRelationship": "", "retention": "", "dataSystemTypeId": "", "projectIds": []}),
        )
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert!(cleared.get("additionalNotes").is_none());
    assert!(cleared.get("dataSystemRelationship").is_none());
    assert_eq!(cleared["retention"], "P2Y");
    assert_eq!(cleared["dataSystemTypeId"], "custom");
    assert_eq!(cleared["projectIds"], json!([]));
    let (_, again) = s.get(&one).await;
    assert_eq!(again, cleared);
}

async fn data_system_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(&s, "/data-systems");
    let controller = predefined(&s, "relationships", "Controller").await;
    let processor = predefined(&s, "relationships", "Processor").await;
    let purpose = named(&s, "processing-purposes", "Marketing").await;
    let crm = create_system(
        &s,
        json!({"name": "CRM", "status": "active", "crossBorder": true, "dataSystemRelationship": processor,
            "dataSystemProcessingPurposes": [purpose["id"]], "additionalNotes": "Hosted in Frankfurt"}),
    )
    .await;
    let mail = create_system(
        &s,
        json!({"name": "Mailer", "status": "archived", "retention": "P1Y", "dataSystemTypeId": "email",
            "dataSystemRelationship": controller}),
    )
    .await;
    let warehouse = create_system(
        &s,
        json!({"name": "warehouse", "status": "test", "globalDataSystemId": Uuid::nil()}),
    )
    .await;
    let q = |query: &str| {
        let path = path.clone();
        let query = query.to_string();
        let s = &s;
        async move {
            let (status, list) = s.get(&format!("{path}?{query}")).await;
            assert_eq!(status, 200, "{query}: {list}");
            assert_eq!(list["count"], list["items"].as_array().unwrap().len());
            (list["total"].as_i64().unwrap(), names(&list["items"]))
        }
    };
    assert_eq!(
        q("").await,
        (3, vec!["warehouse".into(), "Mailer".into(), "CRM".into()])
    );
    assert_eq!(q("name=ARE").await.1, ["warehouse"]);
    assert_eq!(q("crossBorder=true").await.1, ["CRM"]);
    assert_eq!(
        q("crossBorder=false&sort=name&order=asc").await.1,
        ["Mailer", "warehouse"]
    );
    assert_eq!(
        q("status=active&status[]=test&sort=name&order=asc").await.1,
        ["CRM", "warehouse"]
    );
    assert_eq!(q("retention=P1Y").await.1, ["Mailer"]);
    assert_eq!(q("additionalNotes=frankfurt").await.1, ["CRM"]);
    assert_eq!(q("dataSystemTypeId=email").await.1, ["Mailer"]);
    assert_eq!(
        q(&format!("globalDataSystemId={}", Uuid::nil())).await.1,
        ["warehouse"]
    );
    assert_eq!(
        q(&format!("id={}", crm["id"].as_str().unwrap())).await.1,
        ["CRM"]
    );
    // Attribute filters match the linked attribute's id or a substring of its name.
    assert_eq!(q("dataSystemRelationship=control").await.1, ["Mailer"]);
    assert_eq!(
        q(&format!("dataSystemRelationship={processor}")).await.1,
        ["CRM"]
    );
    assert_eq!(q("dataSystemProcessingPurpose=market").await.1, ["CRM"]);
    assert_eq!(q("dataSystemOrigin=x").await.0, 0);
    // Sorts; systems with no value for the sort field come last in either direction.
    assert_eq!(
        q("sort=name&order=asc").await.1,
        ["CRM", "Mailer", "warehouse"]
    );
    assert_eq!(
        q("sort=dataSystemRelationship&order=asc").await.1,
        ["Mailer", "CRM", "warehouse"]
    );
    assert_eq!(
        q("sort=dataSystemRelationship&order=desc").await.1,
        ["CRM", "Mailer", "warehouse"]
    );
    assert_eq!(
        q("sort=globalDataSystemId&order=desc").await.1[0],
        "warehouse"
    );
    assert_eq!(q("sort=retention&order=asc").await.1[0], "Mailer");
    assert_eq!(q("sort=crossBorder&order=desc").await.1[0], "CRM");
    assert_eq!(
        q("sort=status&order=asc").await.1,
        ["CRM", "Mailer", "warehouse"]
    );
    // Paging.
    let (status, page) = s
        .get(&format!("{path}?sort=name&order=asc&offset=1&limit=1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["count"], 1);
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["id"], mail["id"]);
    let _ = warehouse;
    // Bad parameters.
    for (query, message) in [
        ("sort=foo", "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, id, name, crossBorder, retention, globalDataSystemId, status, dataSystemRelationship"),
        ("status=live", "querystring/status must be equal to one of the allowed values: active, archived, test"),
        ("crossBorder=yes", "querystring/crossBorder must be boolean"),
        ("id=1", "querystring/id must match format \"uuid\""),
        ("limit=0", "querystring/limit must be >= 1"),
    ] {
        assert_error(&s.get(&format!("{path}?{query}")).await, 400, message);
    }
    assert_error(
        &s.get(&format!("{path}?dataSystemContact={}", "x".repeat(65)))
            .await,
        400,
        "querystring/dataSystemContact must NOT have more than 64 characters",
    );
}

async fn data_system_delete_and_tasks(b: accord_store::Backend) {
    let s = start(b).await;
    let purpose = named(&s, "processing-purposes", "Billing").await;
    let active = create_system(
        &s,
        json!({"name": "CRM", "status": "active", "dataSystemTypeId": "salesforce", "projectIds": [s.project],
            "dataSystemProcessingPurposes": [purpose["id"]]}),
    )
    .await;
    let archived = create_system(
        &s,
        json!({"name": "Old CRM", "status": "archived", "projectIds": [s.project]}),
    )
    .await;
    let unlinked = create_system(&s, json!({"name": "Mailer", "status": "active"})).await;

    // A request gets one task per active system linked to its project at creation.
    let cr = s.submitted_request().await;
    assert_eq!(
        cr["dataSystemTasks"],
        json!([{"dataSystem": {"id": active["id"], "name": "CRM", "dataSystemTypeId": "salesforce"}, "completed": false}])
    );
    // Linking a system afterwards (from either side) does not add a task to that request,
    // and un-archiving one does not either; the next request gets them.
    let (status, _) = s
        .patch(
            &org_path(
                &s,
                &format!("/data-systems/{}", unlinked["id"].as_str().unwrap()),
            ),
            json!({"projectIds": [s.project]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .patch(
            &org_path(
                &s,
                &format!("/data-systems/{}", archived["id"].as_str().unwrap()),
            ),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 200);
    let cr_path = s.project_path(&format!(
        "/compliance-requests/{}",
        cr["id"].as_str().unwrap()
    ));
    let (_, again) = s.get(&cr_path).await;
    assert_eq!(again["dataSystemTasks"].as_array().unwrap().len(), 1);
    let next = s.submitted_request().await;
    assert_eq!(next["dataSystemTasks"].as_array().unwrap().len(), 3);

    // The Privacy API PATCH completes a task.
    let (status, done) = s
        .patch(
            &cr_path,
            json!({"dataSystemTasks": [{"dataSystem": active["id"], "completed": true}]}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["dataSystemTasks"][0]["completed"], true);

    // Delete returns the deleted object; links go; tasks keep the id as a uuid string.
    let one = org_path(
        &s,
        &format!("/data-systems/{}", active["id"].as_str().unwrap()),
    );
    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["id"], active["id"]);
    assert_eq!(
        deleted["dataSystemProcessingPurposes"][0]["id"],
        purpose["id"]
    );
    assert_eq!(s.get(&one).await.0, 404);
    assert_eq!(s.delete(&one).await.0, 404);
    let (_, after) = s.get(&cr_path).await;
    assert_eq!(
        after["dataSystemTasks"],
        json!([{"dataSystem": active["id"], "completed": true}])
    );
    let (_, attr) = s
        .get(&org_path(
            &s,
            &format!(
                "/data-system-processing-purposes/{}",
                purpose["id"].as_str().unwrap()
            ),
        ))
        .await;
    assert_eq!(attr["dataSystems"], json!([]));
    let (_, project) = s.get(&s.project_path("")).await;
    assert_eq!(project["dataSystems"].as_array().unwrap().len(), 2);
}

async fn predefined_attributes_in_every_organization(b: accord_store::Backend) {
    let s = start(b).await;
    let other = bootstrap(s.store.as_ref(), "Other", "Site", vec![], "k")
        .await
        .unwrap();
    for (kind, expected) in [
        ("relationships", AttributeKind::Relationships),
        ("destinations", AttributeKind::Destinations),
        ("origins", AttributeKind::Origins),
    ] {
        let (status, list) = s
            .get(&org_path(
                &s,
                &format!("/data-system-{kind}?sort=name&order=asc"),
            ))
            .await;
        assert_eq!(status, 200, "{list}");
        let mut want: Vec<String> = expected
            .predefined()
            .iter()
            .map(|n| n.to_string())
            .collect();
        want.sort();
        assert_eq!(names(&list["items"]), want, "{kind}");
        let (_, theirs) = send(s.req_as(
            &other.secret,
            Method::GET,
            &format!(
                "/privacy-v1/organizations/{}/data-system-{kind}?sort=name&order=asc",
                other.organization.id
            ),
        ))
        .await;
        for (mine, their) in list["items"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["items"].as_array().unwrap())
        {
            assert_eq!(mine["readOnly"], true);
            assert_eq!(mine["status"], "active");
            assert_eq!(mine["dataSystems"], json!([]));
            let name = mine["name"].as_str().unwrap();
            assert_eq!(
                mine["globalDataSystemAttributeId"],
                json!(global_attribute_id(expected, name))
            );
            // Same global id in every organization, but each organization has its own row.
            assert_eq!(
                their["globalDataSystemAttributeId"],
                mine["globalDataSystemAttributeId"]
            );
            assert_ne!(their["id"], mine["id"]);
            assert_eq!(their["organizationId"], json!(other.organization.id));
        }
    }
    // Deleting an organization removes its attributes and links with it.
    let theirs_path = format!("/privacy-v1/organizations/{}", other.organization.id);
    let (status, their_sys) = send(
        s.req_as(
            &other.secret,
            Method::POST,
            &format!("{theirs_path}/data-systems"),
        )
        .json(
            &json!({"name": "X", "status": "active", "dataSystemRelationship":
                their_controller(&s, &other.secret, &theirs_path).await}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{their_sys}");
    let (status, _) = send(s.req_as(&other.secret, Method::DELETE, &theirs_path)).await;
    assert_eq!(status, 200);
    for table in ["data_system_attributes", "data_system_attribute_links"] {
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE organization_id = '{}'",
            other.organization.id
        );
        let n: i64 = sqlx::query_scalar(&sql)
            .fetch_one(&s.store.db.read)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }

    // Kinds with no predefined values start empty.
    let (_, activities) = s
        .get(&org_path(&s, "/data-system-processing-activities"))
        .await;
    assert_eq!(activities["total"], 0);

    // Read-only: no PATCH, no DELETE; still linkable from the data-system side.
    let controller = predefined(&s, "relationships", "Controller").await;
    let one = org_path(&s, &format!("/data-system-relationships/{controller}"));
    assert_error(
        &s.patch(&one, json!({"name": "Boss"})).await,
        422,
        "read-only attribute cannot be modified",
    );
    assert_error(
        &s.delete(&one).await,
        422,
        "read-only attribute cannot be modified",
    );
    let dpo = contact_type(&s, "Data Protection Officer").await;
    let sys = create_system(
        &s,
        json!({"name": "CRM", "status": "active", "dataSystemRelationship": controller}),
    )
    .await;
    assert_eq!(sys["dataSystemRelationship"]["name"], "Controller");
    let (status, got) = s.get(&one).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "Controller");
    assert_eq!(got["dataSystems"][0]["id"], sys["id"]);
    // A predefined name cannot be taken again.
    assert_error(
        &s.post(
            &org_path(&s, "/data-system-relationships"),
            json!({"name": "Controller", "status": "active"}),
        )
        .await,
        422,
        "attribute already exists",
    );
    // Contact types are a catalogue: there is no endpoint to write them.
    assert_eq!(
        s.post(
            &org_path(&s, "/data-system-contact-types"),
            json!({"name": "x", "status": "active"})
        )
        .await
        .0,
        404
    );
    assert!(!dpo.is_empty());
}

async fn their_controller(s: &Server, key: &str, org_path: &str) -> String {
    let (_, list) = send(s.req_as(
        key,
        Method::GET,
        &format!("{org_path}/data-system-relationships?name=Controller&sort=name&order=asc"),
    ))
    .await;
    list["items"][0]["id"].as_str().unwrap().to_string()
}

/// Create, get, list, patch and delete for each kind, with its particular fields.
async fn attribute_crud_for_every_kind(b: accord_store::Backend) {
    let s = start(b).await;
    let owner = contact_type(&s, "System Owner").await;
    let legal = contact_type(&s, "Legal Contact").await;
    let sys = create_system(&s, json!({"name": "CRM", "status": "active"})).await;
    for kind in AttributeKind::editable() {
        let k = kind.path();
        let path = org_path(&s, &format!("/data-system-{k}"));
        let mut body = json!({"name": format!("My {k}"), "status": "active",
            "description": "d".repeat(1042), "dataSystems": [sys["id"]]});
        match kind {
            AttributeKind::Contacts => {
                body["email"] = json!("ops@example.com");
                body["phoneNumber"] = json!("+44 20 7946 0000");
                body["contactType"] = json!(owner);
            }
            AttributeKind::DataCategories => body["pIIType"] = json!("sensitive"),
            _ => {}
        }
        let (status, created) = s.post(&path, body).await;
        assert_eq!(status, 201, "{k}: {created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["organizationId"], json!(s.org));
        assert_eq!(created["readOnly"], false);
        assert!(created.get("globalDataSystemAttributeId").is_none());
        assert_eq!(created["description"].as_str().unwrap().len(), 1042);
        assert_eq!(
            created["dataSystems"],
            json!([{"id": sys["id"], "name": "CRM", "status": "active", "dataSystemTypeId": "custom"}])
        );
        let schema = response_schema(
            &s,
            &format!("/organizations/{{organizationId}}/data-system-{k}"),
            "post",
            "201",
        )
        .await;
        check_schema(&schema, &created, k).unwrap();
        match kind {
            AttributeKind::Contacts => {
                assert_eq!(created["email"], "ops@example.com");
                assert_eq!(created["phoneNumber"], "+44 20 7946 0000");
                assert_eq!(
                    created["contactType"],
                    json!({"id": owner, "name": "System Owner"})
                );
            }
            AttributeKind::DataCategories => assert_eq!(created["pIIType"], "sensitive"),
            _ => {
                assert!(created.get("email").is_none());
                assert!(created.get("pIIType").is_none());
            }
        }
        let one = format!("{path}/{id}");
        let (status, got) = s.get(&one).await;
        assert_eq!(status, 200);
        assert_eq!(got, created);
        let (_, list) = s.get(&format!("{path}?name=my")).await;
        assert_eq!(ids(&list["items"]), [id.as_str()], "{k}");

        // The system embeds it under its field.
        let (_, system) = s
            .get(&org_path(
                &s,
                &format!("/data-systems/{}", sys["id"].as_str().unwrap()),
            ))
            .await;
        let field = &system[kind.system_field()];
        let embedded = if field.is_array() { &field[0] } else { field };
        assert_eq!(embedded["id"], json!(id), "{k}");

        let mut patch =
            json!({"name": format!("Renamed {k}"), "status": "archived", "description": ""});
        match kind {
            AttributeKind::Contacts => patch["contactType"] = json!(legal),
            AttributeKind::DataCategories => patch["pIIType"] = json!("none"),
            _ => {}
        }
        let (status, patched) = s.patch(&one, patch).await;
        assert_eq!(status, 200, "{k}: {patched}");
        assert_eq!(patched["name"], format!("Renamed {k}"));
        assert_eq!(patched["status"], "archived");
        assert!(patched.get("description").is_none());
        assert_eq!(patched["dataSystems"], created["dataSystems"]);
        match kind {
            AttributeKind::Contacts => assert_eq!(patched["contactType"]["name"], "Legal Contact"),
            AttributeKind::DataCategories => assert_eq!(patched["pIIType"], "none"),
            _ => {}
        }
        // Another kind's path does not reach it.
        let wrong = if *kind == AttributeKind::Origins {
            "destinations"
        } else {
            "origins"
        };
        assert_eq!(
            s.get(&org_path(&s, &format!("/data-system-{wrong}/{id}")))
                .await
                .0,
            404
        );

        let (status, deleted) = s.delete(&one).await;
        assert_eq!(status, 200);
        assert_eq!(deleted["id"], json!(id));
        assert_eq!(s.get(&one).await.0, 404);
    }
    // Data categories default to the standard PII type.
    let cat = named(&s, "data-categories", "Email address").await;
    assert_eq!(cat["pIIType"], "standard");
}

async fn attribute_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(&s, "/data-system-contacts");
    let dpo = contact_type(&s, "Data Protection Officer").await;
    let ok = json!({"name": "Jane", "status": "active", "email": "jane@example.com", "phoneNumber": "1", "contactType": dpo});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for (body, message) in [
        (without("email"), "body must have required property 'email'"),
        (
            without("phoneNumber"),
            "body must have required property 'phoneNumber'",
        ),
        (
            without("contactType"),
            "body must have required property 'contactType'",
        ),
        (
            with("email", json!("jane")),
            "body/email must match format \"email\"",
        ),
        (
            with("email", json!("")),
            "body/email must NOT have fewer than 1 characters",
        ),
        (
            with("phoneNumber", json!("1".repeat(129))),
            "body/phoneNumber must NOT have more than 128 characters",
        ),
        (
            with("contactType", json!("x")),
            "body/contactType must match format \"uuid\"",
        ),
        (
            with("description", json!("d".repeat(1043))),
            "body/description must NOT have more than 1042 characters",
        ),
        (
            with("pIIType", json!("none")),
            "body must NOT have additional properties: 'pIIType'",
        ),
        (
            with("dataSystems", json!(["x"])),
            "body/dataSystems/0 must match format \"uuid\"",
        ),
        (
            with("status", json!("obsolete")),
            "body/status must be equal to one of the allowed values: active, archived, test",
        ),
    ] {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    assert_error(
        &s.post(
            &org_path(&s, "/data-system-data-categories"),
            json!({"name": "x", "status": "active", "pIIType": "secret"}),
        )
        .await,
        400,
        "body/pIIType must be equal to one of the allowed values: none, standard, sensitive",
    );
    assert_error(
        &s.post(&path, with("contactType", json!(Uuid::now_v7())))
            .await,
        422,
        "contactType not found in this organization",
    );
    assert_error(
        &s.post(&path, with("dataSystems", json!([Uuid::now_v7()])))
            .await,
        422,
        "dataSystems/0 not found in this organization",
    );
    let jane = create_attr(&s, "contacts", ok.clone()).await;
    assert_error(
        &s.post(&path, ok.clone()).await,
        422,
        "attribute already exists",
    );
    // Names are unique per kind only.
    named(&s, "data-subjects", "Jane").await;
    let john = create_attr(&s, "contacts", with("name", json!("John"))).await;
    let john_path = format!("{path}/{}", john["id"].as_str().unwrap());
    assert_error(
        &s.patch(&john_path, json!({"name": "Jane"})).await,
        422,
        "attribute already exists",
    );
    assert_error(
        &s.patch(&john_path, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&format!("{path}/{}", Uuid::now_v7()), json!({"name": "x"}))
            .await,
        404,
        "Not Found",
    );

    // Deleting an attribute in use unlinks it from every system.
    let a = create_system(
        &s,
        json!({"name": "A", "status": "active", "dataSystemContacts": [jane["id"], john["id"]]}),
    )
    .await;
    let b2 = create_system(
        &s,
        json!({"name": "B", "status": "active", "dataSystemContacts": [jane["id"]]}),
    )
    .await;
    let (status, deleted) = s
        .delete(&format!("{path}/{}", jane["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&deleted["dataSystems"]), ["A", "B"]);
    let (_, a_now) = s
        .get(&org_path(
            &s,
            &format!("/data-systems/{}", a["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(names(&a_now["dataSystemContacts"]), ["John"]);
    let (_, b_now) = s
        .get(&org_path(
            &s,
            &format!("/data-systems/{}", b2["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(b_now["dataSystemContacts"], json!([]));

    // Linking from the attribute side replaces its systems; a relationship replaces each
    // system's previous one.
    let (status, john2) = s
        .patch(&john_path, json!({"dataSystems": [b2["id"]]}))
        .await;
    assert_eq!(status, 200, "{john2}");
    assert_eq!(names(&john2["dataSystems"]), ["B"]);
    let controller = predefined(&s, "relationships", "Controller").await;
    let (status, _) = s
        .patch(
            &org_path(&s, &format!("/data-systems/{}", a["id"].as_str().unwrap())),
            json!({"dataSystemRelationship": controller}),
        )
        .await;
    assert_eq!(status, 200);
    let partner = create_attr(
        &s,
        "relationships",
        json!({"name": "Partner", "status": "active", "dataSystems": [a["id"], b2["id"]]}),
    )
    .await;
    assert_eq!(names(&partner["dataSystems"]), ["A", "B"]);
    let (_, a_now) = s
        .get(&org_path(
            &s,
            &format!("/data-systems/{}", a["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(a_now["dataSystemRelationship"]["name"], "Partner");
    let (_, ctrl) = s
        .get(&org_path(
            &s,
            &format!("/data-system-relationships/{controller}"),
        ))
        .await;
    assert_eq!(ctrl["dataSystems"], json!([]));

    // List filters of a kind.
    let (_, list) = s
        .get(&format!("{path}?email=EXAMPLE.com&status=active"))
        .await;
    assert_eq!(names(&list["items"]), ["John"]);
    let (_, list) = s.get(&format!("{path}?status=archived")).await;
    assert_eq!(list["total"], 0);
    assert_error(
        &s.get(&format!("{path}?sort=email")).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, id, name, status",
    );
}

async fn all_attributes_list(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(&s, "/data-system-attributes");
    create_attr(
        &s,
        "data-categories",
        json!({"name": "Health", "status": "active", "pIIType": "sensitive"}),
    )
    .await;
    create_attr(
        &s,
        "data-categories",
        json!({"name": "Email", "status": "active"}),
    )
    .await;
    named(&s, "data-subjects", "Employees").await;
    let (status, list) = s.get(&format!("{path}?limit=1000")).await;
    assert_eq!(status, 200);
    // 22 predefined values (contact types included) and the three above.
    assert_eq!(list["total"], 25);
    let schema = response_schema(
        &s,
        "/organizations/{organizationId}/data-system-attributes",
        "get",
        "200",
    )
    .await;
    check_schema(&schema, &list, "list").unwrap();
    let by_kind = |name: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["attributeName"] == name)
            .count()
    };
    assert_eq!(by_kind("dataSystemContactTypes"), 5);
    assert_eq!(by_kind("dataSystemDestinations"), 8);
    assert_eq!(by_kind("dataSystemDataCategories"), 2);
    let (_, one_kind) = s
        .get(&format!(
            "{path}?attributeName=dataSystemDataCategories&sort=name&order=asc"
        ))
        .await;
    assert_eq!(names(&one_kind["items"]), ["Email", "Health"]);
    assert_eq!(
        one_kind["items"][0]["attributeName"],
        "dataSystemDataCategories"
    );
    let (_, sensitive) = s.get(&format!("{path}?pIIType=sensitive")).await;
    assert_eq!(names(&sensitive["items"]), ["Health"]);
    let (_, by_name) = s
        .get(&format!("{path}?name=processor&sort=name&order=asc"))
        .await;
    assert_eq!(
        names(&by_name["items"]),
        ["Payment Processors", "Processor", "Sub-Processor"]
    );
    assert_error(
        &s.get(&format!("{path}?attributeName=dataSystems")).await,
        400,
        "querystring/attributeName must be equal to one of the allowed values: dataSystemContacts, dataSystemDestinations, dataSystemOrigins, dataSystemProcessingActivities, dataSystemProcessingPurposes, dataSystemRelationships, dataSystemSecurityMeasures, dataSystemDataCategories, dataSystemDataSubjects, dataSystemContactTypes",
    );
}

async fn datamap_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let project_admin = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    let sys = create_system(&s, json!({"name": "CRM", "status": "active"})).await;
    let sys_path = org_path(
        &s,
        &format!("/data-systems/{}", sys["id"].as_str().unwrap()),
    );
    let attr = named(&s, "security-measures", "TLS").await;
    let attr_path = org_path(
        &s,
        &format!(
            "/data-system-security-measures/{}",
            attr["id"].as_str().unwrap()
        ),
    );
    let reads = [
        org_path(&s, "/data-systems"),
        sys_path.clone(),
        org_path(&s, "/data-system-security-measures"),
        attr_path.clone(),
        org_path(&s, "/data-system-attributes"),
        org_path(&s, "/records-of-processing"),
    ];
    for path in &reads {
        assert_eq!(
            send(s.req_as(&viewer, Method::GET, path)).await.0,
            200,
            "{path}"
        );
        assert_error(
            &send(s.req_as(&project_admin, Method::GET, path)).await,
            403,
            "Forbidden",
        );
    }
    for key in [&viewer, &limited, &project_admin] {
        for (method, path) in [
            (Method::POST, org_path(&s, "/data-systems")),
            (Method::PATCH, sys_path.clone()),
            (Method::POST, org_path(&s, "/data-system-security-measures")),
            (Method::PATCH, attr_path.clone()),
        ] {
            let r = send(
                s.req_as(key, method, &path)
                    .json(&json!({"name": "x", "status": "active"})),
            )
            .await;
            assert_error(&r, 403, "Forbidden");
        }
        assert_error(
            &send(s.req_as(key, Method::DELETE, &sys_path)).await,
            403,
            "Forbidden",
        );
        assert_error(
            &send(s.req_as(key, Method::DELETE, &attr_path)).await,
            403,
            "Forbidden",
        );
    }
    // Another organization's key, and an organization that does not exist.
    let other = bootstrap(s.store.as_ref(), "Other", "Site", vec![], "k")
        .await
        .unwrap();
    for path in &reads {
        assert_error(
            &send(s.req_as(&other.secret, Method::GET, path)).await,
            403,
            "Forbidden",
        );
    }
    let theirs = format!(
        "/privacy-v1/organizations/{}/data-systems/{}",
        other.organization.id,
        sys["id"].as_str().unwrap()
    );
    assert_eq!(
        send(s.req_as(&other.secret, Method::GET, &theirs)).await.0,
        404
    );
    assert_error(
        &s.get(&format!(
            "/privacy-v1/organizations/{}/data-systems",
            Uuid::now_v7()
        ))
        .await,
        403,
        "Forbidden",
    );
    let (status, _) = send(s.client.get(s.url(&org_path(&s, "/data-systems")))).await;
    assert_eq!(status, 401);
}

/// A data map with two activities, a system without one, and inactive parts left out.
async fn seed_record(s: &Server) -> (Value, Value, Value) {
    let (_, second) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop"}),
        )
        .await;
    let dpo = contact_type(s, "Data Protection Officer").await;
    let billing = create_attr(
        s,
        "processing-activities",
        json!({"name": "Billing", "status": "active", "description": "Invoices, payments"}),
    )
    .await;
    let analytics = named(s, "processing-activities", "Analytics").await;
    let retired = create_attr(
        s,
        "processing-activities",
        json!({"name": "Retired", "status": "archived"}),
    )
    .await;
    let contract = named(s, "processing-purposes", "Contract").await;
    let legal = named(s, "processing-purposes", "Legal obligation").await;
    let old_purpose = create_attr(
        s,
        "processing-purposes",
        json!({"name": "Old purpose", "status": "archived"}),
    )
    .await;
    let customers = named(s, "data-subjects", "Customers").await;
    let health = create_attr(
        s,
        "data-categories",
        json!({"name": "Health", "status": "active", "pIIType": "sensitive"}),
    )
    .await;
    let email = named(s, "data-categories", "Email").await;
    let tls = named(s, "security-measures", "TLS").await;
    let jane = create_attr(s, "contacts", json!({"name": "Jane", "status": "active", "email": "dpo@example.com", "phoneNumber": "+1 555", "contactType": dpo})).await;
    let payments = predefined(s, "destinations", "Payment Processors").await;
    let forms = predefined(s, "origins", "User Submitted Forms").await;
    let controller = predefined(s, "relationships", "Controller").await;
    let processor = predefined(s, "relationships", "Processor").await;
    let erp = create_system(
        s,
        json!({"name": "ERP", "status": "active", "crossBorder": true, "retention": "P10Y", "projectIds": [s.project],
            "processingActivities": [billing["id"], retired["id"]],
            "dataSystemProcessingPurposes": [contract["id"], legal["id"], old_purpose["id"]],
            "dataSystemDataSubjects": [customers["id"]], "dataSystemDataCategories": [email["id"], health["id"]],
            "dataSystemSecurityMeasures": [tls["id"]], "dataSystemContacts": [jane["id"]],
            "dataSystemDestinations": [payments], "dataSystemOrigins": [forms], "dataSystemRelationship": controller}),
    )
    .await;
    create_system(
        s,
        json!({"name": "CRM", "status": "active", "projectIds": [s.project, second["id"]],
            "processingActivities": [billing["id"], analytics["id"]],
            "dataSystemProcessingPurposes": [contract["id"]], "dataSystemDataCategories": [email["id"]],
            "dataSystemRelationship": processor}),
    )
    .await;
    create_system(
        s,
        json!({"name": "Wiki", "status": "active", "projectIds": [second["id"]], "processingActivities": [retired["id"]],
            "dataSystemSecurityMeasures": [tls["id"]]}),
    )
    .await;
    create_system(
        s,
        json!({"name": "Legacy", "status": "archived", "projectIds": [s.project], "processingActivities": [billing["id"]],
            "dataSystemDataSubjects": [customers["id"]]}),
    )
    .await;
    (second, billing, erp)
}

async fn record_of_processing_json(b: accord_store::Backend) {
    let s = start(b).await;
    let path = org_path(&s, "/records-of-processing");
    let (empty_status, empty) = s.get(&path).await;
    assert_eq!(empty_status, 200);
    assert_eq!(empty["items"], json!([]));
    let (second, billing, erp) = seed_record(&s).await;

    let res = s.req(Method::GET, &path).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let rop: Value = res.json().await.unwrap();
    let schema = response_schema(
        &s,
        "/organizations/{organizationId}/records-of-processing",
        "get",
        "200",
    )
    .await;
    check_schema(&schema, &rop, "record").unwrap();
    assert_eq!(rop["organization"]["id"], json!(s.org));
    assert_eq!(rop["organization"]["name"], "Acme");
    assert!(accord_core::time::parse_rfc3339(rop["generatedAt"].as_str().unwrap()).is_some());
    assert!(rop["generatedAt"].as_str().unwrap().ends_with('Z'));
    let items = rop["items"].as_array().unwrap();
    // Active activities by name, then the row of systems without an (active) activity.
    let activities: Vec<Value> = items
        .iter()
        .map(|i| i["processingActivity"]["name"].clone())
        .collect();
    assert_eq!(
        activities,
        [json!("Analytics"), json!("Billing"), Value::Null]
    );
    let billing_row = &items[1];
    assert_eq!(
        billing_row["processingActivity"],
        json!({"id": billing["id"], "name": "Billing", "description": "Invoices, payments"})
    );
    assert_eq!(
        billing_row["purposes"],
        json!(["Contract", "Legal obligation"])
    );
    assert_eq!(billing_row["dataSubjectCategories"], json!(["Customers"]));
    assert_eq!(
        billing_row["dataCategories"],
        json!([{"name": "Email", "pIIType": "standard"}, {"name": "Health", "pIIType": "sensitive"}])
    );
    assert_eq!(billing_row["recipients"], json!(["Payment Processors"]));
    assert_eq!(billing_row["origins"], json!(["User Submitted Forms"]));
    assert_eq!(
        billing_row["relationships"],
        json!(["Controller", "Processor"])
    );
    assert_eq!(
        billing_row["crossBorderTransfers"],
        json!([{"dataSystemId": erp["id"], "dataSystemName": "ERP"}])
    );
    assert_eq!(
        names_of(&billing_row["retention"], "dataSystemName"),
        ["CRM", "ERP"]
    );
    assert_eq!(billing_row["retention"][1]["retention"], "P10Y");
    assert_eq!(billing_row["securityMeasures"], json!(["TLS"]));
    assert_eq!(
        billing_row["contacts"],
        json!([{"name": "Jane", "email": "dpo@example.com", "phoneNumber": "+1 555", "contactType": "Data Protection Officer"}])
    );
    assert_eq!(names(&billing_row["dataSystems"]), ["CRM", "ERP"]);
    let mut projects = names(&billing_row["projects"]);
    projects.sort();
    assert_eq!(projects, ["Shop", "Website"]);
    let analytics_row = &items[0];
    assert_eq!(names(&analytics_row["dataSystems"]), ["CRM"]);
    assert_eq!(analytics_row["relationships"], json!(["Processor"]));
    assert_eq!(analytics_row["crossBorderTransfers"], json!([]));
    let none_row = &items[2];
    assert_eq!(names(&none_row["dataSystems"]), ["Wiki"]);
    assert_eq!(none_row["securityMeasures"], json!(["TLS"]));
    assert_eq!(none_row["purposes"], json!([]));

    // projectIds restricts to the systems serving those projects.
    let (status, shop) = s
        .get(&format!(
            "{path}?projectIds={}",
            second["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    let shop_items = shop["items"].as_array().unwrap();
    assert_eq!(shop_items.len(), 3);
    assert_eq!(names(&shop_items[1]["dataSystems"]), ["CRM"]);
    assert_eq!(names(&shop_items[1]["projects"]), ["Shop"]);
    assert_error(
        &s.get(&format!("{path}?projectIds={}", Uuid::now_v7()))
            .await,
        422,
        "projectIds/0 not found in this organization",
    );
    assert_error(
        &s.get(&format!("{path}?projectIds=x")).await,
        400,
        "querystring/projectIds must match format \"uuid\"",
    );
    assert_error(
        &s.get(&format!("{path}?format=xml")).await,
        400,
        "querystring/format must be equal to one of the allowed values: json, csv",
    );
}

fn names_of(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

async fn record_of_processing_csv(b: accord_store::Backend) {
    let s = start(b).await;
    seed_record(&s).await;
    let res = s
        .req(
            Method::GET,
            &org_path(&s, "/records-of-processing?format=csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"records-of-processing.csv\""
    );
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "processingActivity",
            "description",
            "purposes",
            "dataSubjectCategories",
            "dataCategories",
            "recipients",
            "origins",
            "relationships",
            "crossBorderTransfers",
            "retention",
            "securityMeasures",
            "contacts",
            "dataSystems",
            "projects"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let billing = &rows[1];
    assert_eq!(&billing[0], "Billing");
    // The comma in the description survived RFC 4180 quoting.
    assert_eq!(&billing[1], "Invoices, payments");
    assert_eq!(&billing[2], "Contract; Legal obligation");
    assert_eq!(&billing[3], "Customers");
    assert_eq!(&billing[4], "Email (standard); Health (sensitive)");
    assert_eq!(&billing[5], "Payment Processors");
    assert_eq!(&billing[6], "User Submitted Forms");
    assert_eq!(&billing[7], "Controller; Processor");
    assert_eq!(&billing[8], "ERP");
    assert_eq!(&billing[9], "CRM: P2Y; ERP: P10Y");
    assert_eq!(&billing[10], "TLS");
    assert_eq!(&billing[11], "Jane <dpo@example.com>");
    assert_eq!(&billing[12], "CRM; ERP");
    let null_row = &rows[2];
    assert_eq!(&null_row[0], "");
    assert_eq!(&null_row[12], "Wiki");
}

async fn datamap_openapi(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let paths = &doc["paths"];
    let org = "/organizations/{organizationId}";
    assert!(paths[format!("{org}/data-systems")]["get"].is_object());
    assert!(paths[format!("{org}/data-systems")]["post"].is_object());
    for m in ["get", "patch", "delete"] {
        assert!(paths[format!("{org}/data-systems/{{dataSystemId}}")][m].is_object());
    }
    for kind in AttributeKind::editable() {
        let c = format!("{org}/data-system-{}", kind.path());
        assert!(paths[&c]["get"].is_object(), "{c}");
        assert!(paths[&c]["post"].is_object(), "{c}");
        for m in ["get", "patch", "delete"] {
            assert!(
                paths[format!("{c}/{{attributeId}}")][m].is_object(),
                "{c} {m}"
            );
        }
    }
    assert!(paths[format!("{org}/data-system-attributes")]["get"].is_object());
    assert!(paths[format!("{org}/records-of-processing")]["get"].is_object());
    let body = &paths[format!("{org}/data-system-contacts")]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    assert_eq!(body["additionalProperties"], false);
    assert_eq!(
        body["required"],
        json!(["name", "status", "email", "phoneNumber", "contactType"])
    );
    assert_eq!(body["properties"]["description"]["maxLength"], 1042);
}

/// A link to an attribute deleted after the request's own check is refused inside the
/// write transaction: 422, nothing written, never a 500 (checked at the store, where the
/// race lands, and under concurrent PATCH and DELETE through the API).
async fn links_to_attributes_deleted_meanwhile_are_422(b: accord_store::Backend) {
    let s = start(b).await;
    let system = create_system(&s, json!({"name": "CRM", "status": "active"})).await;
    let id: Uuid = system["id"].as_str().unwrap().parse().unwrap();
    let map = s.store.data_map(s.org).await.unwrap();
    let stored = map.systems.iter().find(|x| x.id == id).unwrap().clone();
    let write = accord_core::datamap::SystemWrite {
        system: stored,
        projects: None,
        links: vec![(AttributeKind::ProcessingPurposes, vec![Uuid::now_v7()])],
    };
    let err = s.store.save_data_system(&write, false).await.unwrap_err();
    assert_eq!(
        accord_core::Error::from(err),
        accord_core::Error::Unprocessable(
            "dataSystemProcessingPurposes/0 not found in this organization".into()
        )
    );
    let (_, after) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(after, system, "nothing of the refused write is stored");
    // The race through the API: every answer is 200 or 422.
    for round in 0..6 {
        let purpose = named(&s, "processing-purposes", &format!("p{round}")).await;
        let path = org_path(&s, &format!("/data-systems/{id}"));
        let del = org_path(
            &s,
            &format!(
                "/data-system-processing-purposes/{}",
                purpose["id"].as_str().unwrap()
            ),
        );
        let patches = (0..4).map(|_| {
            s.patch(
                &path,
                json!({"dataSystemProcessingPurposes": [purpose["id"]]}),
            )
        });
        let (deleted, patched) = tokio::join!(s.delete(&del), futures::future::join_all(patches));
        assert_eq!(deleted.0, 200, "{}", deleted.1);
        for (status, body) in patched {
            assert!(status == 200 || status == 422, "{status} {body}");
        }
    }
}

/// The body rules checked beyond the declared properties are published with them: blank
/// names and phone numbers, empty ids in lists, and the two names of the processing
/// activities, which exclude each other.
async fn body_rules_checked_in_code_are_published(b: accord_store::Backend) {
    let s = start(b).await;
    let systems = org_path(&s, "/data-systems");
    for (body, message) in [
        (
            json!({"name": "   ", "status": "active"}),
            "body/name must NOT have fewer than 1 characters",
        ),
        (
            json!({"name": "x", "status": "active", "projectIds": [""]}),
            "body/projectIds/0 must match format \"uuid\"",
        ),
        (
            json!({"name": "x", "status": "active", "dataSystemOrigins": [""]}),
            "body/dataSystemOrigins/0 must match format \"uuid\"",
        ),
    ] {
        assert_error(&s.post(&systems, body).await, 400, message);
    }
    let contacts = org_path(&s, "/data-system-contacts");
    let dpo = contact_type(&s, "Data Protection Officer").await;
    assert_error(
        &s.post(
            &contacts,
            json!({"name": "Jane", "status": "active", "email": "jane@example.com", "phoneNumber": "  ", "contactType": dpo}),
        )
        .await,
        400,
        "body/phoneNumber must NOT have fewer than 1 characters",
    );
    assert_error(
        &s.post(
            &contacts,
            json!({"name": "Jane", "status": "active", "email": "jane@example.com", "phoneNumber": "1", "contactType": ""}),
        )
        .await,
        400,
        "body/contactType must NOT have fewer than 1 characters",
    );

    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    for method in ["post", "patch"] {
        let path = match method {
            "post" => "/organizations/{organizationId}/data-systems",
            _ => "/organizations/{organizationId}/data-systems/{dataSystemId}",
        };
        let system = body(path, method);
        assert_eq!(
            system["not"],
            json!({"required": ["processingActivities", "dataSystemProcessingActivities"]})
        );
        assert!(system["properties"]["name"]["description"]
            .as_str()
            .unwrap()
            .contains("white space"));
        assert_eq!(system["properties"]["projectIds"]["items"]["minLength"], 1);
        assert!(system["properties"]["dataSystemRelationship"]
            .get("minLength")
            .is_none());
    }
    let contact = body(
        "/organizations/{organizationId}/data-system-contacts",
        "post",
    );
    for field in ["email", "phoneNumber", "contactType"] {
        assert_eq!(contact["properties"][field]["minLength"], 1, "{field}");
    }
    assert!(contact["properties"]["phoneNumber"]["description"]
        .as_str()
        .unwrap()
        .contains("white space"));
    assert_eq!(
        contact["properties"]["dataSystems"]["items"]["minLength"],
        1
    );
    // Each kind publishes its own fields only.
    let answer = |path: &str| {
        doc["paths"][path]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
            ["properties"]
            .clone()
    };
    let contact = answer("/organizations/{organizationId}/data-system-contacts");
    let category = answer("/organizations/{organizationId}/data-system-data-categories");
    let origin = answer("/organizations/{organizationId}/data-system-origins");
    assert!(contact.get("contactType").is_some() && contact.get("pIIType").is_none());
    assert!(category.get("pIIType").is_some() && category.get("email").is_none());
    assert!(origin.get("pIIType").is_none() && origin.get("email").is_none());
}
