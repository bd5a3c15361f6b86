//! Phone-sized (issue 25): the pages a manager, an LO and a loss-mitigation supervisor use from a phone work
//! at 390×844 without scrolling sideways, the page or anything in it: wide tables reflow to cards (marked and
//! labelled in the served HTML), and the dashboard shows its key figures before its folded filters. A screenshot
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
            let name =
                if path == lead_page { "lead".to_string() } else { path.trim_start_matches('/').replace('/', "_") };
            std::fs::write(shots.join(format!("{name}.png")), png).unwrap();
            if scroll > inner {
                too_wide.push(format!("{path} as {email}: {scroll}px wide in a {inner}px window"));
            }
            // Nor does anything inside it scroll sideways on its own or stick out of its box: no scrolling box, no
            // table or the box around it, no block wider than itself (wide tables reflow to cards), unless it is
            // deliberately clipped (a reflowed table's visually hidden header row).
            let inner_scrollers = b
                .client
                .execute(
                    "const tables = [...document.querySelectorAll('main table')];
                     const boxes = new Set([...tables, ...tables.map(t => t.parentElement)]);
                     const clipped = e => {
                        for (let a = e; a; a = a.parentElement) {
                          const x = getComputedStyle(a).overflowX;
                          if (x === 'hidden' || x === 'clip') return true;
                        }
                        return false;
                     };
                     return [...document.querySelectorAll('main *')].filter(e => {
                        const s = getComputedStyle(e);
                        const scrolls = s.overflowX === 'auto' || s.overflowX === 'scroll';
                        const box = boxes.has(e) || (s.display !== 'inline' && e.clientWidth > 0 && !clipped(e));
                        return (scrolls || box) && e.scrollWidth > e.clientWidth + 1;
                     }).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className
                                 + ' (' + e.scrollWidth + 'px in ' + e.clientWidth + 'px)').slice(0, 5)",
                    vec![],
                )
                .await
                .unwrap();
            for el in inner_scrollers.as_array().unwrap() {
                too_wide.push(format!("{path} as {email}: {el} scrolls sideways inside the page"));
            }
            // The page as served (before any script) marks its wide tables to reflow and labels every cell with
            // its column's name, so the cards read right without JavaScript too.
            let served = b
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     fetch(location.href).then(r => r.text()).then(html => {
                       const doc = new DOMParser().parseFromString(html, 'text/html');
                       const wide = [...doc.querySelectorAll('main table')]
                         .filter(t => t.querySelectorAll('thead th').length >= 4);
                       const problems = [];
                       for (const t of wide) {
                         const name = t.id || (t.caption ? t.caption.textContent : t.className);
                         if (!t.classList.contains('reflow')) problems.push(name + ' does not reflow');
                         const bare = [...t.querySelectorAll('tbody td, tbody th, tfoot td, tfoot th')]
                           .filter(c => !c.hasAttribute('data-label') && !c.hasAttribute('colspan'));
                         if (bare.length) problems.push(name + ': ' + bare.length + ' cells without data-label');
                       }
                       done({wide: wide.length, problems});
                     }).catch(e => done({wide: 0, problems: ['fetch failed: ' + e]}));",
                    vec![],
                )
                .await
                .unwrap();
            for p in served["problems"].as_array().unwrap() {
                too_wide.push(format!("{path} as {email}: served table {p}"));
            }
            // (The lead page's panels hold tables only when the lead has requests or a routing decision.)
            if path != lead_page.as_str() {
                assert!(served["wide"].as_i64().unwrap_or(0) > 0, "{path}: has wide tables to reflow");
                let cards = b
                    .client
                    .execute(
                        "return [...document.querySelectorAll('table.reflow')]
                                  .filter(t => getComputedStyle(t).display === 'block').length",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert!(cards.as_i64().unwrap_or(0) > 0, "{path}: its wide tables reflow to cards");
            }
            // Key figures first, filters folded away.
            if path == "/dashboard" || path == "/escalations" {
                let order = b
                    .client
                    .execute(
                        "const figures = document.querySelector('main .tiles');
                         const filters = document.querySelector('main details.filters');
                         if (!figures || !filters) return 'missing: ' + (figures ? 'filters' : 'key figures');
                         if (filters.open) return 'the filters are unfolded';
                         const first = figures.compareDocumentPosition(filters) & Node.DOCUMENT_POSITION_FOLLOWING;
                         const above = figures.getBoundingClientRect().top < filters.getBoundingClientRect().top;
                         return first && above ? 'ok' : 'the filters come before the key figures';",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert_eq!(order.as_str(), Some("ok"), "{path} at 390 px: key figures first, filters folded away");
            }
        }
        b.close().await;
    }
    assert!(too_wide.is_empty(), "pages do not fit a phone: {too_wide:#?}");
}
