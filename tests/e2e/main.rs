//! End-to-end tests against real services on 127.0.0.1. Start them with `./scripts/test.sh`
//! (or `tests/services/ctl.sh up`); a missing service fails the test that needs it.

mod adversarial;
mod buildspec;
mod ci_context;
mod cluster;
mod codecommit;
mod ecr_candidates;
mod images;
mod install_manifests;
mod lambda;
mod pull_request;
mod reconcile;
mod signing;
mod smoke_aws;
mod smoke_git;
mod smoke_kube;
mod smoke_registry;
mod status;
mod updater;
mod writeback;
