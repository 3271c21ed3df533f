//! What a sender, a subscriber and an auditor do with the app under test, one step each:
//! create a list, sign up, read the mail, press its links, check, export and verify.

use reqwest::Method;
use serde_json::{json, Value};

use super::app::{TestApp, BASE_URL};
use super::list_body;
use super::smtp::ReceivedMail;

impl TestApp {
    /// Creates the list `slug` with the sender key.
    pub async fn given_list(&self, slug: &str) {
        let response = self.create_list(&self.sender_key, &list_body(slug)).await;
        assert_eq!(response.status(), 201);
    }

    pub async fn signup_as(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/consents", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A signup that must be accepted; returns the 202 body.
    pub async fn signup(&self, list: &str, email: &str) -> Value {
        let body = json!({"list": list, "email": email, "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 test"}});
        let response = self.signup_as(&self.sender_key, &body).await;
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }

    /// A signup without evidence that must be accepted; returns the 202 body.
    pub async fn bare_signup(&self, list: &str, email: &str) -> Value {
        let body = json!({"list": list, "email": email});
        self.call(
            Method::POST,
            "/v1/consents",
            Some(&self.sender_key),
            Some(&body),
        )
        .await
        .expect(202)
    }

    pub async fn check(&self, list: &str, email: &str) -> Value {
        let response = self
            .get("/v1/check", &self.sender_key)
            .query(&[("list", list), ("email", email)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn consent(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/consents/{id}"), &self.sender_key)
            .await
    }

    /// A link from a mail or an answer, pointed at this server instead of the base URL.
    pub fn local(&self, link: &str) -> String {
        assert!(link.starts_with(BASE_URL), "links use the base URL: {link}");
        link.replacen(BASE_URL, &self.url, 1)
    }

    /// GET a page link.
    pub async fn open(&self, link: &str) -> reqwest::Response {
        self.client.get(self.local(link)).send().await.unwrap()
    }

    /// POST a page link, as its button does.
    pub async fn press(&self, link: &str) -> reqwest::Response {
        self.client
            .post(self.local(link))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap()
    }

    /// Waits for the `n`-th mail to arrive and returns the latest mail sent to `email`, once
    /// the worker has recorded it as sent (so event order is settled).
    pub async fn mail_to(&self, email: &str, n: usize) -> ReceivedMail {
        let mails = self.smtp.wait_for(n).await;
        let mail = mails
            .into_iter()
            .rev()
            .find(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
            .unwrap_or_else(|| panic!("no mail to {email}"));
        let message_id = mail.header("Message-ID").expect("a Message-ID");
        self.wait_for_confirmation_sent(&message_id).await;
        mail
    }

    /// (confirm link, refuse link) of a confirmation mail.
    pub fn links_of(mail: &ReceivedMail) -> (String, String) {
        let links = mail.links();
        let confirm = links
            .iter()
            .find(|l| l.contains("/c/"))
            .expect("confirm link")
            .clone();
        let refuse = links
            .iter()
            .find(|l| l.contains("/r/"))
            .expect("refuse link")
            .clone();
        (confirm, refuse)
    }

    /// A signup confirmed by the owner through the mailed link; `nth_mail` is how many mails
    /// the SMTP server will have received with this one. Returns the consent id.
    pub async fn confirmed_signup(&self, list: &str, email: &str, nth_mail: usize) -> String {
        let answer = self.signup(list, email).await;
        let mail = self.mail_to(email, nth_mail).await;
        let (confirm, _) = Self::links_of(&mail);
        assert_eq!(self.press(&confirm).await.status(), 200);
        answer["id"].as_str().unwrap().to_owned()
    }

    /// `GET /v1/audit/events?{query}` with the auditor key: (status, headers, body).
    pub async fn export(&self, query: &str) -> (u16, reqwest::header::HeaderMap, String) {
        self.export_as(&self.auditor_key, query).await
    }

    /// [`TestApp::export`] with another sender's auditor key.
    pub async fn export_as(
        &self,
        auditor_key: &str,
        query: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .get(&format!("/v1/audit/events?{query}"), auditor_key)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    /// `GET /v1/audit/verify` with the auditor key.
    pub async fn verify(&self) -> Value {
        self.call(
            Method::GET,
            "/v1/audit/verify",
            Some(&self.auditor_key),
            None,
        )
        .await
        .expect(200)
    }

    /// The public signing keys (`/.well-known/jwks.json`).
    pub async fn jwks(&self) -> Value {
        self.call(Method::GET, "/.well-known/jwks.json", None, None)
            .await
            .body
    }
}
