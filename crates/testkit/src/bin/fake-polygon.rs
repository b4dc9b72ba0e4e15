//! `fake-polygon`: runs the fake Polygon server in the foreground for manual testing of
//! the CLI and the app, e.g. `fake-polygon --port 8089 --page-size 5000 --api-key test-key`.
//! Prints its base URL on stdout and serves until Ctrl-C.

use std::time::Duration;

use clap::Parser;
use tickstock_testkit::fake_polygon::{FakePolygon, FakePolygonConfig};

#[derive(Parser)]
#[command(about = "A fake Polygon.io REST server with deterministic data")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Aggregate bars per page.
    #[arg(long, default_value_t = 50_000)]
    page_size: usize,
    /// The only API key accepted (Bearer header or apiKey parameter).
    #[arg(long, env = "FAKE_POLYGON_API_KEY", default_value = "test-key")]
    api_key: String,
    /// Delay added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let fake = FakePolygon::start(FakePolygonConfig {
        api_key: args.api_key,
        page_size: args.page_size,
        latency: Duration::from_millis(args.latency_ms),
        port: args.port,
        ..FakePolygonConfig::default()
    })
    .await;
    println!("{}", fake.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("fake-polygon: cannot wait for Ctrl-C: {e}");
    }
    fake.shutdown();
}
