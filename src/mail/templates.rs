//! Templates for mail and pages: embedded defaults, each overridable by a file of the same
//! relative name under `CONSENTRY_TEMPLATES_DIR`.

use std::path::Path;

use minijinja::{AutoEscape, Environment};

/// (name relative to `templates/`, embedded source).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "mail/confirm/subject.ja",
        include_str!("../../templates/mail/confirm/subject.ja"),
    ),
    (
        "mail/confirm/subject.en",
        include_str!("../../templates/mail/confirm/subject.en"),
    ),
    (
        "mail/confirm/body.txt.ja",
        include_str!("../../templates/mail/confirm/body.txt.ja"),
    ),
    (
        "mail/confirm/body.txt.en",
        include_str!("../../templates/mail/confirm/body.txt.en"),
    ),
    (
        "mail/confirm/body.html.ja",
        include_str!("../../templates/mail/confirm/body.html.ja"),
    ),
    (
        "mail/confirm/body.html.en",
        include_str!("../../templates/mail/confirm/body.html.en"),
    ),
    (
        "pages/layout.html",
        include_str!("../../templates/pages/layout.html"),
    ),
    (
        "pages/confirm.ja.html",
        include_str!("../../templates/pages/confirm.ja.html"),
    ),
    (
        "pages/confirm.en.html",
        include_str!("../../templates/pages/confirm.en.html"),
    ),
    (
        "pages/confirmed.ja.html",
        include_str!("../../templates/pages/confirmed.ja.html"),
    ),
    (
        "pages/confirmed.en.html",
        include_str!("../../templates/pages/confirmed.en.html"),
    ),
    (
        "pages/refuse.ja.html",
        include_str!("../../templates/pages/refuse.ja.html"),
    ),
    (
        "pages/refuse.en.html",
        include_str!("../../templates/pages/refuse.en.html"),
    ),
    (
        "pages/refused.ja.html",
        include_str!("../../templates/pages/refused.ja.html"),
    ),
    (
        "pages/refused.en.html",
        include_str!("../../templates/pages/refused.en.html"),
    ),
    (
        "pages/unsubscribe.ja.html",
        include_str!("../../templates/pages/unsubscribe.ja.html"),
    ),
    (
        "pages/unsubscribe.en.html",
        include_str!("../../templates/pages/unsubscribe.en.html"),
    ),
    (
        "pages/unsubscribed.ja.html",
        include_str!("../../templates/pages/unsubscribed.ja.html"),
    ),
    (
        "pages/unsubscribed.en.html",
        include_str!("../../templates/pages/unsubscribed.en.html"),
    ),
    (
        "pages/invalid.ja.html",
        include_str!("../../templates/pages/invalid.ja.html"),
    ),
    (
        "pages/invalid.en.html",
        include_str!("../../templates/pages/invalid.en.html"),
    ),
    (
        "pages/expired.ja.html",
        include_str!("../../templates/pages/expired.ja.html"),
    ),
    (
        "pages/expired.en.html",
        include_str!("../../templates/pages/expired.en.html"),
    ),
    (
        "pages/report.ja.html",
        include_str!("../../templates/pages/report.ja.html"),
    ),
    (
        "pages/report.en.html",
        include_str!("../../templates/pages/report.en.html"),
    ),
    (
        "pages/reported.ja.html",
        include_str!("../../templates/pages/reported.ja.html"),
    ),
    (
        "pages/reported.en.html",
        include_str!("../../templates/pages/reported.en.html"),
    ),
    (
        "pages/report_unknown.ja.html",
        include_str!("../../templates/pages/report_unknown.ja.html"),
    ),
    (
        "pages/report_unknown.en.html",
        include_str!("../../templates/pages/report_unknown.en.html"),
    ),
    (
        "audit/print_style.html",
        include_str!("../../templates/audit/print_style.html"),
    ),
    (
        "audit/consent.html",
        include_str!("../../templates/audit/consent.html"),
    ),
    (
        "audit/subject.html",
        include_str!("../../templates/audit/subject.html"),
    ),
];

/// Every template, parsed once at start-up.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads the embedded templates, replacing each with `dir/<name>` where that file exists.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // HTML-escape every HTML template (mail bodies are named body.html.<locale>).
        env.set_auto_escape_callback(|name| {
            if name.contains(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, embedded) in EMBEDDED {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read template {}: {e}", path.display()))?,
                None => (*embedded).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `context`.
    pub fn render(
        &self,
        name: &str,
        context: impl serde::Serialize,
    ) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::value::Serde(context))
    }
}
