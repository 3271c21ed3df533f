//! The recipient's report page: paste the headers, get unsubscribed and see what the sender
//! holds, with no account. Over plain HTTP and in a real headless Chromium without
//! JavaScript (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};
use serde_json::Value;

use crate::support::{spawn_app, TestApp};

fn pasted_headers(check: &Value) -> String {
    format!(
        "From: Example Shop <news@shop.example.jp>\nSubject: Winter sale\nList-Unsubscribe: {}\n",
        check["headers"]["List-Unsubscribe"].as_str().unwrap()
    )
}

async fn post_report(app: &TestApp, headers: &str) -> (u16, String) {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("headers", headers)
        .finish();
    let response = app
        .client
        .post(format!("{}/report?lang=en", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn complaints_of(consent: &Value) -> Vec<Value> {
    consent["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "complained")
        .cloned()
        .collect()
}

#[tokio::test]
async fn pasted_headers_unsubscribe_and_show_what_the_sender_holds() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let headers = pasted_headers(&app.check("offers", "taro@example.jp").await);

    let form = app
        .client
        .get(format!("{}/report", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("<textarea"));
    let (status, page) = post_report(&app, &headers).await;

    assert_eq!(status, 200);
    assert!(
        page.contains("You are unsubscribed from <strong>Weekly offers</strong>"),
        "{page}"
    );
    assert!(page.contains("Example K.K.") && page.contains("1-2-3 Chiyoda, Tokyo"));
    assert!(page.contains("by pressing the button on the confirmation page"));
    assert_eq!(
        app.check("offers", "taro@example.jp").await["reason"],
        "unsubscribed"
    );
    let complaints = complaints_of(&app.consent(&id).await);
    assert_eq!(complaints.len(), 1);
    assert_eq!(complaints[0]["data"]["source"], "recipient_page");
}

#[tokio::test]
async fn headers_without_a_link_of_ours_get_a_page_saying_so_and_nothing_is_recorded() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let forged =
        "List-Unsubscribe: <https://consent.example.jp/u/k1.AAAA.BBBB>\nMessage-ID: <x@y>\n";

    let (status, page) = post_report(&app, forged).await;

    assert_eq!(status, 400);
    assert!(page.contains("No record found"));
    assert!(complaints_of(&app.consent(&id).await).is_empty());
    assert_eq!(
        app.check("offers", "taro@example.jp").await["allowed"],
        true
    );
}

#[tokio::test]
async fn a_pasted_confirmation_mail_acts_as_this_was_not_me() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.signup("offers", "victim@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = app.mail_to("victim@example.jp", 1).await;

    let (status, page) = post_report(&app, &mail.text_body()).await;

    assert_eq!(status, 200);
    assert!(page.contains("This was a confirmation request"), "{page}");
    assert_eq!(app.consent(&id).await["status"], "refused");
}

/// A chromedriver on a port it picks, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's chromedriver; `None` (the test says why and passes) when it is not
/// installed, unless `CONSENTRY_TEST_BROWSER=required` (CI) makes that a failure.
fn chromedriver() -> Option<Driver> {
    let required = std::env::var("CONSENTRY_TEST_BROWSER").as_deref() == Ok("required");
    let spawned = Command::new("chromedriver")
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if !required => {
            eprintln!("skipped: no chromedriver ({error}); install chromium and chromium-driver");
            return None;
        }
        Err(error) => panic!("CONSENTRY_TEST_BROWSER=required but no chromedriver: {error}"),
    };
    let stdout = child.stdout.take().expect("chromedriver's stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(port) = line
            .strip_prefix("ChromeDriver was started successfully on port ")
            .map(|p| p.trim_end_matches('.').to_owned())
        {
            let url = format!("http://127.0.0.1:{port}");
            return Some(Driver { child, url });
        }
    }
    panic!("chromedriver did not say which port it listens on");
}

#[tokio::test]
async fn a_recipient_reports_a_mail_in_a_real_browser_without_javascript() {
    let Some(driver) = chromedriver() else {
        return;
    };
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let headers = pasted_headers(&app.check("offers", "taro@example.jp").await);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--lang=ja", "--window-size=390,844"],
            "prefs": {"profile.managed_default_content_settings.javascript": 2, "intl.accept_languages": "ja"},
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session");

    browser.goto(&format!("{}/report", app.url)).await.unwrap();
    let form_text = browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Opening the page changes nothing.
    assert_eq!(
        app.check("offers", "taro@example.jp").await["allowed"],
        true
    );
    assert!(
        form_text.contains("望まないメールを報告する"),
        "{form_text}"
    );
    let area = browser
        .find(Locator::Css("textarea[name=headers]"))
        .await
        .unwrap();
    area.send_keys(&headers).await.unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The click starts a navigation; until it is done, `body` may be the form's page, or
    // go stale under our hands. Read the page until the answer has arrived (or 10 s).
    let mut body = String::new();
    for _ in 0..100 {
        let read = match browser.find(Locator::Css("body")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        body = read.unwrap_or_default();
        if body.contains("報告を受け付けました") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.close().await.unwrap();

    assert!(body.contains("報告を受け付けました"), "{body}");
    assert!(body.contains("Weekly offers") && body.contains("Example K.K."));
    assert_eq!(
        app.check("offers", "taro@example.jp").await["reason"],
        "unsubscribed"
    );
}
