//! A supervisor opens a case; the assigned specialist works it from the queue through the application, the
//! financial assessment and an approved modification; the supervisor then sees the deadline board.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use serde_json::json;

async fn set(b: &Browser, css: &str, value: &str) {
    b.client
        .execute(&format!("document.querySelector({css:?}).value = arguments[0];"), vec![json!(value)])
        .await
        .unwrap();
}

async fn type_into(b: &Browser, css: &str, value: &str) {
    let el = b.client.find(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

async fn click(b: &Browser, css: &str) {
    b.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn wait(b: &Browser, css: &str) {
    b.client.wait().for_element(Locator::Css(css)).await.unwrap();
}

async fn sign_out(b: &Browser) {
    b.submit("form[action='/logout'] button").await;
    wait(b, "#email").await;
}

#[tokio::test]
async fn specialist_works_a_case_and_supervisor_sees_the_board() {
    let app = TestApp::spawn().await;
    app.create_user(Role::LossmitSupervisor, "sam.super@example.com", None, &[]).await;
    app.create_user(Role::Lossmit, "pat.spec@example.com", None, &[]).await;
    let b = Browser::start().await;

    // The supervisor opens the case.
    b.sign_in(&app.url(""), "sam.super@example.com", PASSWORD).await;
    wait(&b, "#caseload").await;
    b.client.goto(&app.url("/lossmit/cases/new")).await.unwrap();
    for (id, v) in [
        ("#loan_number", "LN-9001"),
        ("#borrower_name", "Dana Whitfield"),
        ("#property_state", "TX"),
        ("#upb", "180000"),
        ("#note_rate", "7.5"),
        ("#remaining_term_months", "300"),
        ("#monthly_pi", "1330.18"),
        ("#monthly_escrow", "350"),
    ] {
        type_into(&b, id, v).await;
    }
    set(&b, "#first_unpaid_due_date", "2026-03-01").await;
    set(&b, "#specialist_email", "pat.spec@example.com").await;
    b.submit("#new-case button[type=submit]").await;
    wait(&b, "#deadlines").await;
    assert!(b.text("h1").await.contains("LN-9001"));
    sign_out(&b).await;

    // The specialist finds it in the queue.
    b.sign_in(&app.url(""), "pat.spec@example.com", PASSWORD).await;
    wait(&b, "#queue").await;
    assert!(b.text("#queue").await.contains("Dana Whitfield"));
    b.submit("#queue a").await;
    wait(&b, "#deadlines").await;
    let deadlines = b.text("#deadlines").await;
    // Continuity personnel by 04-15, first filing from 06-30; the repeating duties show their current cycle.
    assert!(deadlines.contains("2026-04-15") && deadlines.contains("2026-06-30"), "{deadlines}");
    assert!(deadlines.contains("payment due"), "{deadlines}");

    // Application received 11-02 and complete 11-10.
    set(&b, "#application-form input[name=received_on]", "2026-11-02").await;
    set(&b, "#application-form input[name=complete_on]", "2026-11-10").await;
    b.submit("#application-form button").await;
    wait(&b, ".flash-success").await;
    assert_eq!(b.text("#application-status").await, "complete");
    assert!(b.text("#deadlines").await.contains("2026-12-10"), "evaluation due 30 days after completion");

    // Financial assessment: $6,000.00 wages, $600.00 other debts -> housing 28.00%, DTI 38.00%.
    type_into(&b, "#wages", "6000").await;
    type_into(&b, "#other_debts", "600").await;
    set(&b, "#hardship_reason", "reduced_income").await;
    b.submit("#save-assessment").await;
    wait(&b, "#ratios").await;
    let ratios = b.text("#ratios").await;
    assert!(ratios.contains("28.00%") && ratios.contains("38.00%"), "{ratios}");

    // The workout shows the modification side by side with the others; approve it.
    let modification = b.text("#option-modification").await;
    assert!(modification.contains("New P&I") && modification.contains("480 months"), "{modification}");
    assert!(b.text("#option-repayment_plan").await.contains("Plan payment"));
    // The evaluation decides every option: the modification approved, the others denied with a reason.
    click(&b, "#outcome_modification_approved").await;
    for option in ["forbearance", "repayment_plan", "short_sale", "deed_in_lieu"] {
        click(&b, &format!("#outcome_{option}_denied")).await;
        set(&b, &format!("#reason_{option}"), "A modification serves the borrower's long-term hardship").await;
    }
    set(&b, "#decided_on", "2026-11-20").await;
    b.submit("#record-decision").await;
    wait(&b, ".flash-success").await;
    let decisions = b.text("#decisions").await;
    assert!(decisions.contains("Modification") && decisions.contains("approved"), "{decisions}");
    assert_eq!(b.text("#stage").await, "Offer");
    let evaluation = b.text("#deadlines tr[data-key=evaluation]").await;
    assert!(evaluation.contains("met"), "{evaluation}");
    sign_out(&b).await;

    // The supervisor's deadline board shows the specialist's caseload.
    b.sign_in(&app.url(""), "sam.super@example.com", PASSWORD).await;
    wait(&b, "#caseload").await;
    let caseload = b.text("#caseload").await;
    assert!(caseload.contains("pat spec 1"), "{caseload}");
    assert!(b.text("#breaches").await.contains("LN-9001"), "the missed day-36 contact is a breach");
    b.close().await;
}
