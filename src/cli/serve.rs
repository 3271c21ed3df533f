//! `consentry serve`.

use crate::config::Settings;
use crate::startup::Application;

pub fn run(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.http.bind.clone();
        let base_url = settings.http.base_url.clone();
        let app = Application::build(settings).await?;
        tracing::info!(%bind, port = app.port(), %base_url, "consentry listening");
        app.run_until_stopped().await?;
        Ok(())
    })
}
