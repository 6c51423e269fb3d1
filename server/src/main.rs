//! The `weft` binary: parse configuration, set up logging, run until SIGINT/SIGTERM.

use std::net::TcpListener;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use weft::config::{Cli, LogFormat};

fn main() -> anyhow::Result<()> {
    let args = Cli::parse().serve_args();
    let filter = EnvFilter::try_new(&args.log).context("invalid --log / WEFT_LOG filter")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let listener = TcpListener::bind(args.listen).with_context(|| {
        format!(
            "cannot listen on {} (set --listen or WEFT_LISTEN)",
            args.listen
        )
    })?;
    actix_web::rt::System::new().block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signal(shutdown.clone()));
        weft::run(args, listener, shutdown).await
    })?;
    Ok(())
}

async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop weft with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}
