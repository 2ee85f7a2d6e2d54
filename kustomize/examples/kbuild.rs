//! Prints what `shipline_kustomize::build` produces for a directory (a debugging aid, and the
//! program to profile: it links jemalloc, as the `shipline` binary does on Linux).

#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    match shipline_kustomize::build(std::path::Path::new(&dir)) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
