//! A world for one test: a temporary folder with a local CA, a gateway and
//! one agent per project, and helpers to submit and inspect.

use std::sync::Arc;

use municipality_agent::report::ReportError;
use municipality_agent::synthetic::Project;
use prikk_e2e::agent::{self, AgentState, GatewayAccess, Submission};
use prikk_e2e::{HarnessError, InProcessGateway, LocalCa, gateway};
use prikk_privacy::{Definition, Policy};
use prikk_proto::pb::report_gateway_client::ReportGatewayClient;

/// The period every test reports for.
pub(crate) const PERIOD: &str = "2006";
/// The seed of the generated exports.
pub(crate) const SEED: u64 = 6;

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) ca: LocalCa,
    pub(crate) gateway: Option<InProcessGateway>,
    pub(crate) agents: Vec<AgentState>,
    pub(crate) def: Arc<Definition>,
    pub(crate) policy: Policy,
}

impl World {
    /// CA, agents (keys and exports), a gateway in `<dir>/gateway`, projects registered.
    pub(crate) fn new(projects: &[Project]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::create(&dir.path().join("pki")).unwrap();
        let agents: Vec<AgentState> = projects
            .iter()
            .map(|p| AgentState::create(&dir.path().join("agents"), p, SEED).unwrap())
            .collect();
        let gateway_dir = dir.path().join("gateway");
        std::fs::create_dir_all(&gateway_dir).unwrap();
        let gw = InProcessGateway::start(&gateway::config(&gateway_dir, &ca)).unwrap();
        gateway::register_all(&gw.store(), &agents).unwrap();
        Self {
            dir,
            ca,
            gateway: Some(gw),
            agents,
            def: Arc::new(Definition::embedded()),
            policy: Policy::default(),
        }
    }

    pub(crate) fn gateway(&self) -> &InProcessGateway {
        self.gateway.as_ref().unwrap()
    }

    pub(crate) fn gateway_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("gateway")
    }

    pub(crate) fn access(&self) -> GatewayAccess {
        self.gateway().access(&self.ca)
    }

    /// A gRPC client of the gateway over TLS, for sending envelopes as they are.
    pub(crate) async fn client(&self) -> ReportGatewayClient<tonic::transport::Channel> {
        let channel = self
            .access()
            .transport()
            .endpoint()
            .unwrap()
            .connect()
            .await
            .unwrap();
        ReportGatewayClient::new(channel)
    }

    /// Every agent submits concurrently (one tokio task each) to `access`.
    pub(crate) async fn submit_all(
        &self,
        access: &GatewayAccess,
    ) -> Vec<(AgentState, Result<Submission, HarnessError>)> {
        let tasks: Vec<_> = self
            .agents
            .iter()
            .map(|a| {
                let (a, def, policy, access) = (
                    a.clone(),
                    self.def.clone(),
                    self.policy.clone(),
                    access.clone(),
                );
                tokio::spawn(async move {
                    let r = agent::submit(&a, def, PERIOD, &policy, &access).await;
                    (a, r)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}

impl World {
    /// A corrected report for `agent`'s project, protected as the agent
    /// protects a correction (every cell `earlier` hid stays hidden): a few
    /// corrected exports with more people are tried in turn, because the
    /// agent may refuse one it cannot protect. Returns the prepared report
    /// (its exact tables stay local).
    pub(crate) fn correction(
        &self,
        agent: &AgentState,
        earlier: &prikk_proto::pb::SignedReport,
    ) -> municipality_agent::report::Prepared {
        use municipality_agent::report;
        use municipality_agent::synthetic::{SyntheticOptions, write_export};
        let earlier: prikk_proto::pb::Report =
            prikk_proto::decode_exact(&earlier.report, "report").unwrap();
        let path = self
            .dir
            .path()
            .join(format!("{}-corrected.csv", agent.project));
        (0..5u64)
            .find_map(|i| {
                write_export(
                    &path,
                    &agent.project,
                    agent.rows + 9 + i as usize,
                    1_000_003 + i,
                    &SyntheticOptions::default(),
                )
                .unwrap();
                let prepared =
                    report::prepare(&self.def, &path, PERIOD, Some(&agent.project), &self.policy)
                        .and_then(|mut p| {
                            report::keep_earlier_suppression(&self.def, &mut p, &earlier)?;
                            Ok(p)
                        });
                match prepared {
                    Ok(p) => Some(p),
                    Err(ReportError::Protect(_) | ReportError::AuditFailed(_)) => None,
                    Err(e) => panic!("corrected report: {e}"),
                }
            })
            .expect("one of five corrected exports can be protected")
    }
}

/// Whether an error is the agent refusing to produce a report it cannot
/// protect (a legitimate outcome that sends nothing), as opposed to a fault.
pub(crate) fn is_refusal_to_protect(e: &HarnessError) -> bool {
    matches!(
        e,
        HarnessError::Report(ReportError::Protect(_) | ReportError::AuditFailed(_))
    )
}

/// The delivered submissions, failing on any error other than the agent
/// refusing to protect, and unless at least `min` delivered.
pub(crate) fn delivered(
    results: Vec<(AgentState, Result<Submission, HarnessError>)>,
    min: usize,
) -> Vec<(AgentState, Submission)> {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for (a, r) in results {
        match r {
            Ok(s) => {
                assert_eq!(
                    s.receipt.revision, 1,
                    "{}: first report is revision 1",
                    a.project
                );
                ok.push((a, s));
            }
            Err(e) if is_refusal_to_protect(&e) => refused.push(format!("{}: {e}", a.project)),
            Err(e) => panic!("{}: {e}", a.project),
        }
    }
    assert!(
        ok.len() >= min,
        "only {} projects delivered (at least {min} expected); refused: {refused:#?}",
        ok.len()
    );
    ok
}
