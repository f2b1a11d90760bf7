//! The web console's Data map pages, in a real server (and headless Chromium where they run
//! in one): systems created, linked, edited and deleted through forms and read back through
//! the Privacy API; a bad reference refused with the API's message and nothing stored; the
//! attributes of each kind; the record of processing and its CSV, the API's byte for byte;
//! viewers read but cannot write.
use crate::both;
use crate::common::*;
use crate::console::{
    created, csrf_of, fill_and_send, fits, look, member, narrow, owner, owner_tab, refused,
    PASSWORD,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both!(
    a_system_is_created_linked_edited_and_deleted_from_forms,
    a_bad_reference_shows_the_api_message_and_stores_nothing,
    attributes_of_each_kind_are_added_and_deleted,
    the_record_of_processing_exports_the_api_csv,
    viewers_read_the_data_map_but_cannot_change_it,
    the_systems_list_is_paged_by_name,
    the_data_map_works_in_a_browser
);

fn org_path(s: &Server, rest: &str) -> String {
    format!("/privacy-v1/organizations/{}{rest}", s.org)
}

/// Creates an attribute of `kind` through the Privacy API and answers its id.
async fn attribute(s: &Server, kind: &str, body: Value) -> String {
    let (status, a) = s
        .post(&org_path(s, &format!("/data-system-{kind}")), body)
        .await;
    assert_eq!(status, 201, "{a}");
    a["id"].as_str().unwrap().to_string()
}

/// The id of a new active attribute `name` of kind `kind`.
async fn active(s: &Server, kind: &str, name: &str) -> String {
    attribute(s, kind, json!({"name": name, "status": "active"})).await
}

/// The id of the predefined relationship `name`.
async fn relationship(s: &Server, name: &str) -> String {
    let (status, list) = s
        .get(&org_path(
            s,
            "/data-system-attributes?attributeName=dataSystemRelationships",
        ))
        .await;
    assert_eq!(status, 200, "{list}");
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

async fn systems_total(s: &Server) -> i64 {
    let (status, list) = s.get(&org_path(s, "/data-systems")).await;
    assert_eq!(status, 200, "{list}");
    list["total"].as_i64().unwrap()
}

async fn a_system_is_created_linked_edited_and_deleted_from_forms(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let cat = active(&s, "data-categories", "Email address").await;
    let act = active(&s, "processing-activities", "Newsletter").await;
    let processor = relationship(&s, "Processor").await;
    let project = s.project.to_string();
    let index = format!("/console/o/{}/data-map", s.org);
    let a = owner
        .submit(
            &index,
            &[
                ("name", "Mailer"),
                ("status", "active"),
                ("retention", "P1Y"),
                ("crossBorder", "true"),
                ("additionalNotes", "Sends the newsletter"),
                ("projectIds", &project),
                ("dataSystemDataCategories", &cat),
                ("processingActivities", &act),
                ("dataSystemRelationship", &processor),
            ],
        )
        .await;
    let (page, id, sys) = created(&s, a, "/data-systems").await;
    assert_eq!(sys["name"], "Mailer");
    assert_eq!(sys["retention"], "P1Y");
    assert_eq!(sys["crossBorder"], true);
    assert_eq!(sys["additionalNotes"], "Sends the newsletter");
    assert_eq!(sys["projectIds"], json!([project]));
    assert_eq!(sys["dataSystemDataCategories"][0]["id"], cat.as_str());
    assert_eq!(sys["processingActivities"][0]["id"], act.as_str());
    assert_eq!(sys["dataSystemRelationship"]["id"], processor.as_str());
    // The system's page shows what it uses, and its form holds the stored values.
    let shown = owner.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("Email address"), "{}", shown.body);
    assert!(shown.body.contains("Processor"));
    assert!(shown.body.contains(&format!(
        r#"name="dataSystemDataCategories" value="{cat}" checked"#
    )));
    // The list shows it, by name.
    let list = owner.get(&index).await;
    assert!(list.body.contains(&page), "{}", list.body);
    // Another system sharing the category is related to it.
    let (status, other) = s
        .post(
            &org_path(&s, "/data-systems"),
            json!({"name": "CRM", "status": "active", "dataSystemDataCategories": [cat]}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let shown = owner.get(&page).await;
    assert!(
        shown.body.contains(other["id"].as_str().unwrap()),
        "the related system is linked from the page"
    );
    // Editing: a new name, the category unticked, no relationship.
    let a = owner
        .submit(
            &page,
            &[
                ("action", "save"),
                ("name", "Mailer 2"),
                ("status", "test"),
                ("retention", "P6M"),
                ("processingActivities", &act),
                ("dataSystemRelationship", ""),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved."));
    let (_, sys) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(sys["name"], "Mailer 2");
    assert_eq!(sys["status"], "test");
    assert_eq!(sys["crossBorder"], false);
    assert_eq!(sys["retention"], "P6M");
    assert_eq!(sys["dataSystemDataCategories"], json!([]));
    assert_eq!(sys["projectIds"], json!([]));
    assert!(sys.get("dataSystemRelationship").is_none(), "{sys}");
    assert!(sys.get("additionalNotes").is_none(), "cleared: {sys}");
    assert_eq!(sys["processingActivities"][0]["id"], act.as_str());
    // Deleting.
    let a = owner.submit(&page, &[("action", "delete")]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (status, _) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(status, 404);
    assert_eq!(owner.get(&page).await.status, 403);
}

async fn a_bad_reference_shows_the_api_message_and_stores_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let index = format!("/console/o/{}/data-map", s.org);
    let unknown = uuid::Uuid::new_v4().to_string();
    let a = owner
        .submit(
            &index,
            &[
                ("name", "Typed name"),
                ("status", "active"),
                ("dataSystemContacts", &unknown),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    // The API's own answer to the same body.
    let api = s
        .post(
            &org_path(&s, "/data-systems"),
            json!({"name": "Typed name", "status": "active", "dataSystemContacts": [unknown]}),
        )
        .await;
    assert_error(
        &api,
        422,
        "dataSystemContacts/0 not found in this organization",
    );
    // Shown next to its field (inside the contacts fieldset), what was typed kept.
    let fieldset = a
        .body
        .split(r#"<fieldset id="dataSystemContacts">"#)
        .nth(1)
        .unwrap();
    let fieldset = fieldset.split("</fieldset>").next().unwrap();
    assert!(
        fieldset.contains("dataSystemContacts/0 not found in this organization"),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"value="Typed name""#));
    assert_eq!(systems_total(&s).await, 0, "nothing stored");
    // A bad retention: the schema's message next to its field, nothing stored.
    let a = owner
        .submit(
            &index,
            &[
                ("name", "Typed name"),
                ("status", "active"),
                ("retention", "two years"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(r#"id="retention-error""#), "{}", a.body);
    assert!(a.body.contains(r#"value="two years""#));
    // No name: the message names the name field.
    let a = owner
        .submit(&index, &[("name", "  "), ("status", "active")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(r#"id="name-error""#), "{}", a.body);
    assert_eq!(systems_total(&s).await, 0, "nothing stored");
}

async fn attributes_of_each_kind_are_added_and_deleted(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let path = format!("/console/o/{}/data-map/attributes", s.org);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200);
    // Every kind has its section, the predefined values listed.
    for heading in [
        "Contacts",
        "Destinations (recipients)",
        "Origins of the data",
        "Processing activities",
        "Processing purposes",
        "Relationship",
        "Security measures",
        "Data categories",
        "Data subjects",
    ] {
        assert!(page.body.contains(&format!(">{heading}</h2>")), "{heading}");
    }
    assert!(page.body.contains("Joint Controller"));
    for kind in [
        "destinations",
        "origins",
        "processing-activities",
        "processing-purposes",
        "relationships",
        "security-measures",
        "data-subjects",
    ] {
        let a = owner
            .submit(
                &path,
                &[
                    ("action", "create"),
                    ("kind", kind),
                    ("name", &format!("My {kind}")),
                    ("status", "active"),
                    ("description", "made in the console"),
                ],
            )
            .await;
        assert_eq!(a.status, 200, "{kind}: {}", a.body);
        let (_, list) = s
            .get(&org_path(&s, &format!("/data-system-{kind}?name=My")))
            .await;
        assert_eq!(list["total"], 1, "{kind}: {list}");
        assert_eq!(list["items"][0]["description"], "made in the console");
    }
    let a = owner
        .submit(
            &path,
            &[
                ("action", "create"),
                ("kind", "data-categories"),
                ("name", "Health"),
                ("status", "active"),
                ("pIIType", "sensitive"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, list) = s.get(&org_path(&s, "/data-system-data-categories")).await;
    assert_eq!(list["items"][0]["pIIType"], "sensitive", "{list}");
    // A contact needs its contact type (a predefined one).
    let (_, types) = s
        .get(&org_path(
            &s,
            "/data-system-attributes?attributeName=dataSystemContactTypes",
        ))
        .await;
    let dpo = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Data Protection Officer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = owner
        .submit(
            &path,
            &[
                ("action", "create"),
                ("kind", "contacts"),
                ("name", "Dana"),
                ("status", "active"),
                ("email", "not an email"),
                ("phoneNumber", "+1 555 0100"),
                ("contactType", &dpo),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("email"), "{}", a.body);
    assert!(a.body.contains(r#"value="not an email""#));
    let (_, list) = s.get(&org_path(&s, "/data-system-contacts")).await;
    assert_eq!(list["total"], 0);
    let a = owner
        .submit(
            &path,
            &[
                ("action", "create"),
                ("kind", "contacts"),
                ("name", "Dana"),
                ("status", "active"),
                ("email", "dana@example.com"),
                ("phoneNumber", "+1 555 0100"),
                ("contactType", &dpo),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, list) = s.get(&org_path(&s, "/data-system-contacts")).await;
    assert_eq!(list["items"][0]["email"], "dana@example.com", "{list}");
    let contact = list["items"][0]["id"].as_str().unwrap().to_string();
    // A duplicate name: the API's 422.
    let a = owner
        .submit(
            &path,
            &[
                ("action", "create"),
                ("kind", "data-categories"),
                ("name", "Health"),
                ("status", "active"),
                ("pIIType", "none"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("attribute already exists"), "{}", a.body);
    // Editing one from its page: renamed, linked to a system.
    let (status, sys) = s
        .post(
            &org_path(&s, "/data-systems"),
            json!({"name": "Helpdesk", "status": "active"}),
        )
        .await;
    assert_eq!(status, 201, "{sys}");
    let sys_id = sys["id"].as_str().unwrap();
    let edit = format!("{path}/contacts/{contact}");
    let a = owner
        .submit(
            &edit,
            &[
                ("name", "Dana Smith"),
                ("status", "active"),
                ("email", "dana@example.com"),
                ("phoneNumber", "+1 555 0101"),
                ("contactType", &dpo),
                ("dataSystems", sys_id),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved."));
    let (_, c) = s
        .get(&org_path(&s, &format!("/data-system-contacts/{contact}")))
        .await;
    assert_eq!(c["name"], "Dana Smith");
    assert_eq!(c["phoneNumber"], "+1 555 0101");
    assert_eq!(c["dataSystems"][0]["id"], sys_id, "{c}");
    // A bad phone: the API's message, what was typed kept, nothing changed.
    let a = owner
        .submit(
            &edit,
            &[
                ("name", "Dana Renamed"),
                ("status", "active"),
                ("email", "dana@example.com"),
                ("phoneNumber", " "),
                ("contactType", &dpo),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("phoneNumber"), "{}", a.body);
    assert!(a.body.contains(r#"value="Dana Renamed""#));
    let (_, c) = s
        .get(&org_path(&s, &format!("/data-system-contacts/{contact}")))
        .await;
    assert_eq!(c["name"], "Dana Smith");
    // A predefined value's page has no form.
    let processor = relationship(&s, "Processor").await;
    let page = owner
        .get(&format!("{path}/relationships/{processor}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("A predefined value"));
    assert!(!page.body.contains(r#"name="name""#));
    // Deleting one; a predefined value cannot be.
    let a = owner
        .submit(
            &path,
            &[("action", "delete"), ("kind", "contacts"), ("id", &contact)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, list) = s.get(&org_path(&s, "/data-system-contacts")).await;
    assert_eq!(list["total"], 0);
    let a = owner
        .submit(
            &path,
            &[
                ("action", "delete"),
                ("kind", "relationships"),
                ("id", &processor),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("read-only attribute cannot be modified"));
    assert_eq!(relationship(&s, "Processor").await, processor);
}

async fn the_record_of_processing_exports_the_api_csv(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let cat = attribute(
        &s,
        "data-categories",
        json!({"name": "Email, \"work\" address", "status": "active", "pIIType": "standard"}),
    )
    .await;
    let act = active(&s, "processing-activities", "Billing").await;
    let purpose = active(&s, "processing-purposes", "Contract").await;
    for (name, cross) in [("Ledger", true), ("Invoices", false)] {
        let (status, sys) = s
            .post(
                &org_path(&s, "/data-systems"),
                json!({"name": name, "status": "active", "crossBorder": cross,
                    "projectIds": [s.project], "dataSystemDataCategories": [cat],
                    "processingActivities": [act], "dataSystemProcessingPurposes": [purpose]}),
            )
            .await;
        assert_eq!(status, 201, "{sys}");
    }
    let page = owner
        .get(&format!(
            "/console/o/{}/data-map/record-of-processing",
            s.org
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Billing"), "{}", page.body);
    assert!(page.body.contains("Contract"));
    assert!(page.body.contains("Ledger; Invoices") || page.body.contains("Invoices; Ledger"));
    let link = format!("/console/o/{}/data-map/record-of-processing.csv", s.org);
    assert!(page.body.contains(&link), "an Export CSV link");
    let csv = owner.get(&link).await;
    assert_eq!(csv.status, 200);
    let api = s
        .req(
            Method::GET,
            &org_path(&s, "/records-of-processing?format=csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let ct = api.headers()["content-type"].to_str().unwrap().to_string();
    let api_bytes = api.bytes().await.unwrap();
    assert_eq!(csv.body.as_bytes(), &api_bytes[..], "byte for byte");
    assert!(csv.body.contains("Billing"));
    assert_eq!(ct, "text/csv; charset=utf-8");
}

async fn viewers_read_the_data_map_but_cannot_change_it(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let (status, sys) = s
        .post(
            &org_path(&s, "/data-systems"),
            json!({"name": "Warehouse", "status": "active"}),
        )
        .await;
    assert_eq!(status, 201, "{sys}");
    let id = sys["id"].as_str().unwrap();
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let index = format!("/console/o/{}/data-map", s.org);
    let system = format!("{index}/systems/{id}");
    let attributes = format!("{index}/attributes");
    let list = viewer.get(&index).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Warehouse"));
    assert!(
        !list.body.contains("New data system"),
        "no form for a viewer"
    );
    let page = viewer.get(&system).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(r#"value="delete""#));
    assert_eq!(viewer.get(&attributes).await.status, 200);
    assert_eq!(
        viewer
            .get(&format!("{index}/record-of-processing.csv"))
            .await
            .status,
        200
    );
    let csrf = csrf_of(&list.body);
    refused(
        &mut viewer,
        &csrf,
        [
            (index.as_str(), vec![("name", "X"), ("status", "active")]),
            (system.as_str(), vec![("action", "delete")]),
            (
                system.as_str(),
                vec![
                    ("action", "save"),
                    ("name", "Renamed"),
                    ("status", "active"),
                ],
            ),
            (
                attributes.as_str(),
                vec![
                    ("action", "create"),
                    ("kind", "origins"),
                    ("name", "X"),
                    ("status", "active"),
                ],
            ),
        ],
    )
    .await;
    let (_, sys) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(sys["name"], "Warehouse");
    assert_eq!(systems_total(&s).await, 1);
    // Without the session's token, even the owner's form is refused.
    let mut owner2 = crate::console::Browser::new(&s);
    owner2.sign_in("owner@example.com", PASSWORD).await;
    let a = owner2
        .post(
            &index,
            &[("csrf", "wrong"), ("name", "X"), ("status", "active")],
        )
        .await;
    assert_eq!(a.status, 403);
    // Another organization's data map is closed.
    let (status, other) = s
        .post("/privacy-v1/organizations", json!({"name": "Other"}))
        .await;
    assert_eq!(status, 201, "{other}");
    let other_org = other["id"].as_str().unwrap();
    let a = viewer
        .get(&format!("/console/o/{other_org}/data-map"))
        .await;
    assert_eq!(a.status, 403);
    let a = viewer
        .get(&format!("/console/o/{other_org}/data-map/systems/{id}"))
        .await;
    assert_eq!(a.status, 403);
    let a = viewer
        .get(&format!(
            "/console/o/{other_org}/data-map/record-of-processing.csv"
        ))
        .await;
    assert_eq!(a.status, 403);
}

async fn the_systems_list_is_paged_by_name(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    for i in (0..55).rev() {
        let (status, sys) = s
            .post(
                &org_path(&s, "/data-systems"),
                json!({"name": format!("System {i:02}"), "status": "active"}),
            )
            .await;
        assert_eq!(status, 201, "{sys}");
    }
    let index = format!("/console/o/{}/data-map", s.org);
    let first = owner.get(&index).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("55 data systems"));
    let rows = first.body.matches("/data-map/systems/").count();
    assert_eq!(rows, 50, "one page of 50");
    let a = first.body.find(">System 00<").unwrap();
    let z = first.body.find(">System 49<").unwrap();
    assert!(a < z, "sorted by name");
    assert!(!first.body.contains(">System 50<"));
    assert!(
        first.body.contains(&format!("{index}?offset=50")),
        "a next link"
    );
    let second = owner.get(&format!("{index}?offset=50")).await;
    assert_eq!(second.body.matches("/data-map/systems/").count(), 5);
    assert!(second.body.contains(">System 54<"));
    assert!(
        second.body.contains(&format!("{index}?offset=0")),
        "a previous link"
    );
}

async fn the_data_map_works_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    let cat = active(&s, "data-categories", "Email address").await;
    let act = active(&s, "processing-activities", "Newsletter").await;
    active(&s, "processing-purposes", "Marketing").await;
    let (status, crm) = s
        .post(
            &org_path(&s, "/data-systems"),
            json!({"name": "CRM", "status": "active", "projectIds": [s.project],
                "dataSystemDataCategories": [cat], "processingActivities": [act],
                "crossBorder": true}),
        )
        .await;
    assert_eq!(status, 201, "{crm}");
    let tab = owner_tab(&browser, &s).await;
    let index = format!("/console/o/{}/data-map", s.org);
    tab.goto(&s.url(&index)).await;
    look(&tab, &axe_js, "data map", "console-datamap").await;
    // A new system through the form: name typed, a category ticked, sent.
    tab.eval(&format!(
        "document.getElementById('dataSystemDataCategories-{cat}').checked = true; true"
    ))
    .await;
    tab.eval(&format!(
        "document.getElementById('processingActivities-{act}').checked = true; true"
    ))
    .await;
    let js = fill_and_send(&[("name", "Mailer")], "form.system-form");
    tab.eval(&format!("setTimeout(() => {{ {js} }}, 0); true"))
        .await;
    tab.wait_for(
        "location.pathname.includes('/systems/') && document.readyState === 'complete'",
        std::time::Duration::from_secs(30),
        "the new system's page",
    )
    .await;
    let path = tab.eval("location.pathname").await;
    let id = path
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (status, sys) = s.get(&org_path(&s, &format!("/data-systems/{id}"))).await;
    assert_eq!(status, 200, "{sys}");
    assert_eq!(sys["name"], "Mailer");
    assert_eq!(sys["dataSystemDataCategories"][0]["id"], cat.as_str());
    look(&tab, &axe_js, "data system", "console-datamap-system").await;
    tab.goto(&s.url(&format!("{index}/attributes"))).await;
    look(&tab, &axe_js, "attributes", "console-datamap-attributes").await;
    tab.goto(&s.url(&format!("{index}/attributes/data-categories/{cat}")))
        .await;
    look(&tab, &axe_js, "attribute", "console-datamap-attribute").await;
    tab.goto(&s.url(&format!("{index}/record-of-processing")))
        .await;
    let text = tab
        .eval("document.querySelector('table.rop').innerText")
        .await;
    assert!(text.as_str().unwrap().contains("Newsletter"), "{text}");
    look(
        &tab,
        &axe_js,
        "record of processing",
        "console-record-of-processing",
    )
    .await;
    // Narrow screens: the page does not overflow the viewport.
    narrow(&tab).await;
    tab.goto(&s.url(&format!("{index}/systems/{id}"))).await;
    let wide = fits(&tab).await;
    assert_eq!(wide, true, "the system page fits 390 px");
    tab.screenshot("console-datamap-system-narrow").await;
    browser.close().await;
}
