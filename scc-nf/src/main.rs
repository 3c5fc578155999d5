//! `scc-nf`: runs one SCC network function; see `scc_nf::cli`.
fn main() -> std::process::ExitCode {
    scc_nf::cli::main_from_args(std::env::args_os())
}
