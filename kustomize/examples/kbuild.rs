//! Prints what `shipline_kustomize::build` produces for a directory (a debugging aid).

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
