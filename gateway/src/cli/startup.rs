//! The one startup sequence of every serving subcommand: logging, the
//! validated configuration, the runtime, signal handling into a
//! cancellation token, the listener, then serving until the token is
//! cancelled (in-flight submissions finish first).

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::Config;

/// Sends log lines to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Serves `config` (the leader or the helper, as its role says) until
/// SIGINT or SIGTERM.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        // Scripts and tests read the bound address from this line.
        eprintln!("gateway listening on {}", listener.local_addr()?);
        crate::serve(listener, config, shutdown.cancelled_owned()).await?;
        Ok(())
    })
}

/// Cancels `token` on the first SIGINT (Ctrl-C) or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    token.cancel();
}
