//! CodeCommit IAM git credentials: shipline's SigV4 signature equals what the AWS CLI's
//! `aws codecommit credential-helper get` prints for the same credentials, URL and second.

use std::io::Write;
use std::process::{Command, Stdio};

use shipline_core::git::codecommit::{SigningCredentials, credentials_at};
use shipline_core::secret::Secret;
use shipline_e2e::service_env;

fn aws_cli_credentials(token: Option<&str>, host: &str, path: &str) -> (String, String) {
    let mut cmd = Command::new(service_env("SHIPLINE_TEST_AWS_CLI"));
    cmd.args(["codecommit", "credential-helper", "get"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(token) = token {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
    let mut child = cmd.spawn().expect("run the AWS CLI");
    write!(child.stdin.take().unwrap(), "protocol=https\nhost={host}\npath={path}\n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "aws codecommit credential-helper failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in CLI output"))
            .to_owned()
    };
    (field("username"), field("password"))
}

#[test]
fn sigv4_git_password_matches_the_aws_cli() {
    let cases = [
        (None, "git-codecommit.us-east-1.amazonaws.com", "v1/repos/microservices", "us-east-1"),
        (Some("SESSIONTOKEN/+="), "git-codecommit.eu-west-1.amazonaws.com", "v1/repos/other-repo", "eu-west-1"),
    ];
    for (token, host, path, region) in cases {
        let (cli_user, cli_password) = aws_cli_credentials(token, host, path);
        let (timestamp, _) = cli_password.split_once('Z').expect("timestamp Z signature");
        let creds = SigningCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: token.map(Secret::new),
        };
        let (user, password) = credentials_at(&format!("https://{host}/{path}"), region, &creds, timestamp).unwrap();
        assert_eq!(user, cli_user, "{host}");
        assert_eq!(password.expose(), cli_password, "{host}/{path}");
    }
}
