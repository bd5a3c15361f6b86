//! Phone-sized (issue 25): the pages a manager, an LO and a loss-mitigation supervisor use from a phone work
//! at 390×844 without scrolling sideways, the page or anything in it: wide tables reflow to cards. A screenshot
//! of each page is kept in target/phone-screens/.

mod common;

use common::TestApp;
use common::browser::Browser;

#[tokio::test]
async fn the_everyday_pages_fit_a_phone_without_scrolling_sideways() {
    let app = TestApp::spawn().await;
    loanfloor::demo::ensure(&app.state).await.unwrap().expect("the demo organisation is created");
    let lead: uuid::Uuid = sqlx::query_scalar(
        "SELECT l.id FROM leads l JOIN users u ON u.id = l.assigned_lo_id
         WHERE u.email = 'lo@demo.loanfloor.test' ORDER BY l.created_at DESC LIMIT 1",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/phone-screens");
    std::fs::create_dir_all(&shots).unwrap();
    let lead_page = format!("/leads/{lead}");
    let visits: Vec<(&str, Vec<&str>)> = vec![
        ("manager@demo.loanfloor.test", vec!["/dashboard", "/escalations"]),
        ("lo@demo.loanfloor.test", vec!["/my-day", lead_page.as_str()]),
        ("lossmit.lead@demo.loanfloor.test", vec!["/lossmit/board"]),
    ];
    let mut too_wide = Vec::new();
    for (email, pages) in visits {
        let b = Browser::start().await;
        b.client.set_window_size(390, 844).await.unwrap();
        b.sign_in(&app.url(""), email, loanfloor::demo::DEMO_PASSWORD).await;
        for path in pages {
            b.client.goto(&app.url(path)).await.unwrap();
            let widths = b
                .client
                .execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![])
                .await
                .unwrap();
            let (scroll, inner) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
            let png = b.client.screenshot().await.unwrap();
            let name = path.trim_start_matches('/').replace('/', "_");
            std::fs::write(shots.join(format!("{name}.png")), png).unwrap();
            if scroll > inner {
                too_wide.push(format!("{path} as {email}: {scroll}px wide in a {inner}px window"));
            }
            // Nor does anything inside it scroll sideways on its own: wide tables reflow to cards.
            let inner_scrollers = b
                .client
                .execute(
                    "return [...document.querySelectorAll('main *')].filter(e => {
                        const s = getComputedStyle(e);
                        return (s.overflowX === 'auto' || s.overflowX === 'scroll') && e.scrollWidth > e.clientWidth + 1;
                     }).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className).slice(0, 5)",
                    vec![],
                )
                .await
                .unwrap();
            for el in inner_scrollers.as_array().unwrap() {
                too_wide.push(format!("{path} as {email}: {el} scrolls sideways inside the page"));
            }
            if path == "/dashboard" || path == "/my-day" || path == "/lossmit/board" {
                let cards =
                    b.client.execute("return document.querySelectorAll('table.reflow').length", vec![]).await.unwrap();
                assert!(cards.as_i64().unwrap_or(0) > 0, "{path}: its wide tables reflow to cards");
            }
        }
        b.close().await;
    }
    assert!(too_wide.is_empty(), "pages scroll sideways on a phone: {too_wide:#?}");
}
