//! Runs the system benchmarks and prints the table (or JSON with `--json`).
//! Usage: `cargo run --release -p scc-profiler --example sysbench -- [--full] [--json] [--save FILE]`
use scc_profiler::sysbench::{Pick, SysbenchOptions, SysbenchReport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--full");
    let opts = if full {
        SysbenchOptions::full()
    } else {
        SysbenchOptions::quick()
    };
    let r = SysbenchReport::run(&opts, !full)?;
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", r.render_table());
        println!(
            "\nlatency table (worst case per level):\n{}",
            toml::to_string_pretty(&r.latency_table(Pick::Worst))?
        );
    }
    if let Some(i) = args.iter().position(|a| a == "--save") {
        if let Some(p) = args.get(i + 1) {
            r.save(std::path::Path::new(p))?;
        }
    }
    Ok(())
}
