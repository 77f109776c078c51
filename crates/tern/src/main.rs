//! The `tern` binary: `tern node` serves the data plane, `tern dev` runs the platform locally.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cli;
mod client;
mod config;
mod kafka_cli;
mod limits;
mod metering;
mod prompt;
mod reconcile;
mod redis_connect;
mod repl;
mod saved_intent;
mod usage_cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
