//! `emporium`: run the shop, migrate its database, manage users.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use emporium::settings::{LogFormat, Settings};
use emporium::{Backend, Shop, StartOptions};
use identity::{Registration, Role};
use kernel::SystemClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "emporium", version, about = "An e-commerce platform in one binary.")]
struct Cli {
    /// Where the SQLite database, signing key and uploads live.
    #[arg(long, global = true, env = "EMPORIUM_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    #[arg(long, global = true, env = "EMPORIUM_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the shop (migrating the database first).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080, or `addr` from settings].
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Create the demo accounts, and the demo catalogue when the shop has none.
        #[arg(long)]
        demo: bool,
        /// Run only these services, comma-separated: identity, catalog, inventory, orders,
        /// payments, notifications, storefront [default: all, or `EMPORIUM_SERVICES`].
        #[arg(long, value_parser = parse_services)]
        services: Option<web::Served>,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Fill the shop with generated data (run while the shop is stopped).
    Seed {
        /// The demo shop: accounts, sellers, categories, 1,000 products, reviews and stores
        /// (the catalogue only when the shop has none yet).
        #[arg(long, conflicts_with = "products")]
        demo: bool,
        /// Add this many generated products (for benchmarks).
        #[arg(long)]
        products: Option<usize>,
        /// Variation of the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Manage the search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The events consumers gave up on.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// The keys access tokens are signed with.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the published keys (the current one first).
    List,
    /// Make a new key current: tokens signed from now on name it; the old
    /// key stays published until the tokens it signed have expired.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// List the dead letters: events a consumer failed too many times.
    Dead,
    /// Send a dead letter to its consumer again (by event id).
    Replay { id: String },
}

#[derive(Debug, Subcommand)]
enum SearchCommand {
    /// Rebuild the index from the catalogue (run while the shop is stopped).
    Reindex,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account with any role.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "customer", value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "Emporium user")]
        name: String,
    },
}

fn parse_services(s: &str) -> Result<web::Served, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: identity::role::UnknownRole| e.to_string())
}

/// mimalloc instead of the system allocator: a checkout allocates and frees
/// many small buffers across threads, where glibc's malloc spent a tenth of
/// the server's time in the checkout benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut settings = match Settings::load(cli.data_dir.clone(), &env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("emporium: bad setting: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = &cli.database_url {
        settings.database_url = Some(emporium::settings::Secret(url.clone()));
    }
    init_tracing(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("emporium: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emporium: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|e| {
        eprintln!("emporium: EMPORIUM_LOG {:?} is not a valid filter ({e}); using \"info\"", settings.log);
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { addr, demo, services } => {
            if let Some(addr) = addr {
                settings.addr = addr;
            }
            if let Some(services) = services {
                settings.services = services;
                settings.check_services()?;
            }
            serve(settings, demo).await
        }
        Command::Migrate => {
            let backend = Backend::open(&settings).await?;
            println!("{} database is up to date", backend.name());
            backend.close().await;
            Ok(())
        }
        Command::Seed { demo, products, seed } => {
            let shop = Shop::open(&settings, Arc::new(SystemClock), None).await?;
            let started = std::time::Instant::now();
            match (demo, products) {
                (true, _) => {
                    if !emporium::seed::demo(&shop, &mut Bar::default()).await? {
                        println!("the shop already has a catalogue; only the demo accounts were ensured");
                    }
                }
                (false, Some(n)) => emporium::seed::products(&shop, n, seed, true, &mut Bar::default()).await?,
                (false, None) => anyhow::bail!("say what to seed: --demo or --products N"),
            }
            println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
            reindex(&shop).await?;
            shop.backend.close().await;
            Ok(())
        }
        Command::Search { command: SearchCommand::Reindex } => {
            let shop = Shop::open(&settings, Arc::new(SystemClock), None).await?;
            reindex(&shop).await?;
            shop.backend.close().await;
            Ok(())
        }
        Command::Events { command: EventsCommand::Dead } => {
            let dead = emporium::dead_letters::list(&settings).await?;
            if dead.is_empty() {
                println!("no dead letters (looked in {})", emporium::dead_letters::searched(&settings));
            }
            for d in dead {
                let error = d.error.as_deref().unwrap_or("-");
                println!("{}  {}  {}  attempts={}  {error}", d.id, d.topic, d.place, d.attempts);
            }
            Ok(())
        }
        Command::Events { command: EventsCommand::Replay { id } } => {
            if !emporium::dead_letters::replay(&settings, &id).await? {
                anyhow::bail!("no dead letter {id} (looked in {})", emporium::dead_letters::searched(&settings));
            }
            println!("event {id} sent again");
            Ok(())
        }
        Command::Keys { command } => {
            let backend = Backend::open(&settings).await?;
            let identity = emporium::shop::identity_service(&settings, &backend, Arc::new(SystemClock))?;
            let result = match command {
                KeysCommand::Rotate => identity.rotate_signing_key().await.map(|kid| {
                    println!("the current signing key is now {kid}");
                    println!("running nodes sign with it within {} s", identity::keys::KEY_REFRESH.as_secs());
                }),
                KeysCommand::List => identity.published_keys().await.map(|keys| {
                    let mut kids = keys.kids().peekable();
                    if kids.peek().is_none() {
                        println!("no signing key yet: the first is made when the shop first signs someone in");
                    }
                    for (i, kid) in kids.enumerate() {
                        println!("{kid}  {}", if i == 0 { "current" } else { "retired, still published" });
                    }
                }),
            };
            backend.close().await;
            result.map_err(|e| anyhow::anyhow!("{}", describe(&e)))
        }
        Command::User { command: UserCommand::Create { email, password, role, name } } => {
            let backend = Backend::open(&settings).await?;
            let identity = emporium::shop::identity_service(&settings, &backend, Arc::new(SystemClock))?;
            let result = identity.create_user(Registration { email, password, full_name: name }, role).await;
            backend.close().await;
            let user = result.map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            println!("created {} {} ({})", user.role.as_str(), user.email, user.id);
            Ok(())
        }
    }
}

async fn reindex(shop: &Shop) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut bar = Bar::default();
    bar.start("indexing", 0);
    let documents = shop.feed.reindex(|read| bar.set(read)).await?;
    bar.finish();
    println!("search index rebuilt: {documents} products in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A terminal progress bar (hidden when stderr is not a terminal).
#[derive(Default)]
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn set(&mut self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(n);
        }
    }
}

impl emporium::seed::Progress for Bar {
    fn start(&mut self, label: &str, total: u64) {
        let bar = if total > 0 { indicatif::ProgressBar::new(total) } else { indicatif::ProgressBar::new_spinner() };
        let template = if total > 0 {
            "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)"
        } else {
            "{msg:>10} {spinner} {pos} products read ({per_sec})"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        self.0 = Some(bar);
    }
    fn advance(&mut self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }
    fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish();
        }
    }
}

fn describe(e: &identity::IdentityError) -> String {
    match e {
        identity::IdentityError::Validation(fields) => {
            fields.fields.iter().map(|(f, m)| format!("{f} {m}")).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

use emporium::seed::{DEMO_ACCOUNTS, DEMO_PASSWORD, Progress as _};

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let running = emporium::start_with(&settings, listener, StartOptions { demo }).await?;
    let url = format!("http://{}", running.addr);
    println!("Emporium is running on {} at {url}", running.backend.name());
    println!("  Shop:      {url}/");
    println!("  Admin:     {url}/admin");
    println!("  API docs:  {url}/api/docs");
    println!("  Health:    {url}/health/ready");
    if demo {
        println!(
            "  Sign in at {url}/login as admin {} / {DEMO_PASSWORD}  (demo data; do not expose this shop)",
            DEMO_ACCOUNTS[0].0
        );
        println!("  or as customer {} / {DEMO_PASSWORD}", DEMO_ACCOUNTS[1].0);
        println!("  API token: curl -s {url}/api/v1/auth/login -H 'content-type: application/json' \\");
        println!("               -d '{{\"email\":\"{}\",\"password\":\"{DEMO_PASSWORD}\"}}'", DEMO_ACCOUNTS[0].0);
    }
    println!("Press Ctrl-C to stop.");
    tracing::info!(addr = %running.addr, backend = running.backend.name(), ready_ms = started.elapsed().as_millis() as u64, "ready");

    let stop = running.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        stop.cancel();
    });
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
