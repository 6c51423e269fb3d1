//! The `weft` binary: parse configuration, set up logging, run until SIGINT/SIGTERM.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use weft::config::{Cli, Command, LogFormat, MigrateArgs};

/// The allocator (a cargo feature; see BENCHMARKS.md, "Document memory"): one that gives the
/// pages of hibernated and unloaded documents back to the OS.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Migrate(args)) => {
            init_logging("info", LogFormat::Text)?;
            return migrate(args);
        }
        Some(Command::Token(args)) => {
            if let Some(weft::access::TokenCommand::Revoke(revoke)) = &args.command {
                init_logging("warn", LogFormat::Text)?;
                return revoke_token(revoke);
            }
            let minted = weft::access::mint_token(args)?;
            println!("{}", minted.token);
            eprintln!("jti: {}", minted.jti);
            return Ok(());
        }
        Some(Command::Export(args)) => return weft::offline::export(args),
        Some(Command::Import(args)) => return weft::offline::import(args),
        Some(Command::Copy(args)) => {
            init_logging("warn", LogFormat::Text)?;
            return weft::copy::run(args);
        }
        Some(Command::Serve(_)) | None => {}
    }
    let args = cli.serve_args();
    init_logging(&args.log, args.log_format)?;
    let listener = weft::http::listener::bind(args.listen).with_context(|| {
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

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).context("invalid --log / WEFT_LOG filter")?;
    // Colours only for a terminal: piped into a file, journald or a log collector, a line is
    // plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// `weft migrate`: apply PostgreSQL migrations and exit.
fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let url = args.pg.database_url.as_deref().context(
        "weft migrate needs --database-url or DATABASE_URL (the embedded store migrates itself)",
    )?;
    let target = args.pg.settings(url).target("weft-migrate")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let applied = runtime.block_on(weft::store::postgres::migrate(&target))?;
    println!("{applied} migration(s) applied; the schema is up to date");
    Ok(())
}

/// `weft token revoke ID`: record the revocation in the store and exit.
fn revoke_token(args: &weft::live::revocation::RevokeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let revoked = runtime.block_on(weft::live::revocation::revoke_from_cli(args))?;
    println!(
        "revoked {} until {} (when the token expires)",
        revoked.jti, revoked.expires_at
    );
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
