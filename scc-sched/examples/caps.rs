//! Prints what this host offers the scheduler: `cargo run -p scc-sched --example caps [-- --json]`.

fn main() {
    let c = scc_sched::Capabilities::detect();
    if std::env::args().any(|a| a == "--json") {
        match serde_json::to_string_pretty(&c) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("json: {e}"),
        }
        return;
    }
    println!("{c}");
    for w in c.warnings() {
        println!("warning: {w}");
    }
}
