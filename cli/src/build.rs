//! `shipline build`: a drop-in for `kustomize build DIR`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

/// Arguments of `shipline build`.
#[derive(Debug, Args)]
#[command(after_help = "\
Prints the same bytes as `kustomize build DIR` (kustomize v5.5). Remote resources, helm charts,
exec plugins and files outside the kustomization root are refused with an error naming the field.

Examples:
  shipline build manifests/examples/sock-shop/overlays/development
  shipline build deploy/overlays/prod | kubectl apply --server-side -f -
  shipline build --json deploy/overlays/prod | jq '.[].metadata.name'")]
pub struct BuildArgs {
    /// The kustomization directory.
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Print the objects as one JSON array instead of YAML documents.
    #[arg(long)]
    json: bool,
}

/// Builds and prints.
pub fn run(args: &BuildArgs) -> Result<(), String> {
    let out = shipline_core::kustomize::build(&args.dir).map_err(|e| e.to_string())?;
    if args.json {
        let objects =
            shipline_core::update::yaml::parse_documents(&out).map_err(|e| format!("the build's output: {e}"))?;
        return crate::out::json(&serde_json::Value::Array(objects));
    }
    // YAML is printed as built (it is the output, and kustomize prints it so); only the error
    // paths of a closed or full stdout are the common ones.
    match std::io::stdout().lock().write_all(out.as_bytes()).and_then(|()| std::io::stdout().lock().flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("writing to stdout: {e}")),
    }
}
