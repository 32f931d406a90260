//! The smallest configurations that grant a traced program its needed set, each checked with the execve
//! model before it is printed: a configuration is turned into the credentials its runtime gives the
//! program's caller (runc for Docker and Kubernetes, the service manager for systemd, a plain user for
//! setcap), the program's file is executed in the model, and the needed set must come out effective and
//! permitted. Where it does not (a non-root container holds added capabilities only in its bounding set),
//! the advice says why in one sentence and offers the first alternative the model accepts.

use super::{Advice, KubeCapabilities, KubeContext, Recommendations, RunFacts, RunUser};
use crate::exec::{
    simulate, Caller, Creds, FileState, Ids, Kernel, KernelRules, Simulation, Subject,
};
use crate::oci::{self, RuntimeStart};
use crate::service::Service;
use crate::text::CapState;
use crate::xattr::FileCaps;
use crate::{k8s, Cap, CapSet, CAP_BITS};

/// Every form of the recommendation for `needed`, each checked by the model against `facts.file`.
pub fn recommend(needed: CapSet, facts: &RunFacts) -> Recommendations {
    let model = Model::new(needed, facts);
    let traced = model.traced_plan();
    Recommendations {
        needed,
        docker: model.advise(Form::Docker),
        kubernetes: model.advise(Form::Kubernetes),
        kubernetes_context: model.kube_context(&traced),
        systemd: model.advise(Form::Systemd),
        setcap: model.setcap(),
    }
}

/// The marker of the line a file-capability plan adds to a runtime's configuration.
const FILE_LINE: &str = "\n# and on the program's file: ";

/// Several files asked (`sh -c 'a; b'`, `unshare … hostname`): the runtime forms for the whole needed
/// set, whose plans that rely on file capabilities name each file with the capabilities it asked for.
/// `per_file` holds, for each file that asked, the recommendations for its own set on that file. A form
/// works when it works for COMMAND's file and for every file that asked; its `instead` puts each file's
/// own setcap line, each checked by the model for that file, under the whole set's flags.
pub fn with_files(whole: Recommendations, per_file: &[Recommendations]) -> Recommendations {
    if per_file.len() < 2 {
        return whole;
    }
    let merge = |form: fn(&Recommendations) -> &Advice| -> Advice {
        let mut advice = form(&whole).clone();
        let failing = per_file.iter().map(form).find(|a| !a.works);
        if let Some(file) = failing {
            if advice.works {
                advice.works = false;
                advice.why = file.why.clone();
            }
        }
        let needs_file_lines = per_file.iter().map(form).any(|a| a.instead.is_some())
            || advice
                .instead
                .as_deref()
                .is_some_and(|i| i.contains(FILE_LINE));
        if !advice.works && needs_file_lines {
            let flags = advice
                .instead
                .as_deref()
                .map(|i| i.split(FILE_LINE).next().unwrap_or(i).to_string())
                .unwrap_or_else(|| advice.config.clone());
            let lines: Vec<&str> = per_file
                .iter()
                .filter_map(|r| form(r).instead.as_deref())
                .filter_map(|i| i.split(FILE_LINE).nth(1))
                .collect();
            let all_have_one = per_file
                .iter()
                .map(form)
                .all(|a| a.works || a.instead.as_deref().is_some_and(|i| i.contains(FILE_LINE)));
            advice.instead = (all_have_one && !lines.is_empty()).then(|| {
                format!(
                    "{flags}\n# and on each file that asked, its own capabilities:\n# {}",
                    lines.join("\n# ")
                )
            });
        }
        advice
    };
    // The setcap form: each file's own line; the note under them once.
    let setcap = whole.setcap.as_ref().map(|advice| {
        let lines: Vec<&Advice> = per_file.iter().filter_map(|r| r.setcap.as_ref()).collect();
        let firsts: Vec<&str> = lines
            .iter()
            .filter_map(|a| a.config.lines().next())
            .collect();
        let note = advice.config.lines().skip(1).collect::<Vec<_>>().join("\n");
        let failing = lines.iter().find(|a| !a.works);
        Advice {
            config: if note.is_empty() {
                firsts.join("\n")
            } else {
                format!("{}\n{note}", firsts.join("\n"))
            },
            works: advice.works && failing.is_none() && lines.len() == per_file.len(),
            why: advice
                .why
                .clone()
                .or_else(|| failing.and_then(|a| a.why.clone())),
            instead: advice.instead.clone(),
        }
    });
    Recommendations {
        docker: merge(|r| &r.docker),
        kubernetes: merge(|r| &r.kubernetes),
        systemd: merge(|r| &r.systemd),
        setcap,
        ..whole.clone()
    }
}

/// The forms a recommendation is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Docker,
    Kubernetes,
    Systemd,
    /// File capabilities for a non-root user who holds none (no service manager, no container runtime).
    Setcap,
}

impl Form {
    fn runtime(self) -> &'static str {
        match self {
            Form::Docker => "Docker",
            Form::Kubernetes => "Kubernetes",
            Form::Systemd => "systemd",
            Form::Setcap => "setcap",
        }
    }

    /// The setting that turns no_new_privs on, as this form writes it.
    fn no_new_privs_setting(self) -> &'static str {
        match self {
            Form::Docker => "--security-opt no-new-privileges",
            Form::Kubernetes => "allowPrivilegeEscalation: false",
            Form::Systemd => "NoNewPrivileges=yes",
            Form::Setcap => "no_new_privs",
        }
    }

    /// A capability as this form spells it: `NET_BIND_SERVICE` for Docker and Kubernetes, `CAP_NET_BIND_SERVICE`
    /// for systemd, `cap_net_bind_service` for setcap; a bit without a name as its number.
    fn cap_name(self, cap: Cap) -> String {
        match (cap.name(), self) {
            (None, _) => cap.bit().to_string(),
            (Some(name), Form::Systemd) => name.to_ascii_uppercase(),
            (Some(name), Form::Setcap) => name.to_string(),
            (Some(name), _) => name.trim_start_matches("cap_").to_ascii_uppercase(),
        }
    }

    fn cap_names(self, set: CapSet) -> Vec<String> {
        set.iter().map(|cap| self.cap_name(cap)).collect()
    }
}

/// One way to run the program: as whom, with or without no_new_privs, and whether its file carries the
/// needed set as file capabilities (`setcap NEEDED=ep`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    /// `None`: root.
    user: Option<RunUser>,
    no_new_privs: bool,
    setcap: bool,
}

impl Plan {
    fn uid(&self) -> u32 {
        self.user.as_ref().map_or(0, |u| u.uid)
    }

    fn gid(&self) -> u32 {
        self.user.as_ref().map_or(0, |u| u.gid)
    }

    fn non_root(&self) -> bool {
        self.uid() != 0
    }
}

/// What every check shares: the needed set, the traced run, the kernel.
struct Model<'a> {
    needed: CapSet,
    facts: &'a RunFacts,
    kernel: Kernel,
    known: u32,
}

impl<'a> Model<'a> {
    fn new(needed: CapSet, facts: &'a RunFacts) -> Model<'a> {
        let known = facts.known.min(CAP_BITS);
        Model {
            needed,
            facts,
            kernel: Kernel {
                rules: KernelRules::Current,
                known_caps: known,
            },
            known,
        }
    }

    fn every(&self) -> CapSet {
        CapSet::first_n(self.known)
    }

    /// The run as it was traced: the same user; no_new_privs unless some exec needed to gain privilege.
    fn traced_plan(&self) -> Plan {
        Plan {
            user: self.facts.user.clone(),
            no_new_privs: !self.facts.exec_gained_privilege,
            setcap: false,
        }
    }

    /// The form's configuration for the traced run, checked, with an alternative when it fails.
    fn advise(&self, form: Form) -> Advice {
        let plan = self.traced_plan();
        let config = self.render(form, &plan);
        match self.check(form, &plan) {
            Ok(()) => Advice {
                config,
                works: true,
                why: None,
                instead: None,
            },
            Err(why) => Advice {
                config,
                works: false,
                why: Some(why),
                instead: self.instead(form, &plan),
            },
        }
    }

    /// The first alternative the model accepts, least privilege first: without no_new_privs (file
    /// capabilities or set-id bits the file already has then count); with `setcap NEEDED=ep` on the file
    /// (which needs no_new_privs off); as root.
    fn instead(&self, form: Form, traced: &Plan) -> Option<String> {
        let mut candidates = vec![Plan {
            no_new_privs: false,
            ..traced.clone()
        }];
        if traced.non_root() && !self.needed.is_empty() {
            candidates.push(Plan {
                no_new_privs: false,
                setcap: true,
                ..traced.clone()
            });
        }
        for no_new_privs in [traced.no_new_privs, false] {
            candidates.push(Plan {
                user: None,
                no_new_privs,
                setcap: false,
            });
        }
        candidates.dedup();
        candidates
            .iter()
            .filter(|plan| *plan != traced)
            .find(|plan| self.check(form, plan).is_ok())
            .map(|plan| self.render_with_setcap(form, plan))
    }

    fn render_with_setcap(&self, form: Form, plan: &Plan) -> String {
        let config = self.render(form, plan);
        if plan.setcap {
            format!("{config}{FILE_LINE}{}", self.setcap_command())
        } else {
            config
        }
    }

    fn render(&self, form: Form, plan: &Plan) -> String {
        match form {
            Form::Docker => self.docker_flags(plan),
            Form::Kubernetes => kube_yaml(&self.kube_context(plan)),
            Form::Systemd => self.systemd_lines(plan),
            Form::Setcap => self.setcap_command(),
        }
    }

    /// The model's word on a plan: `Err` says, in one sentence, why the program would not get its needed set.
    fn check(&self, form: Form, plan: &Plan) -> Result<(), String> {
        let creds = match form {
            Form::Docker => self.docker_creds(plan)?,
            Form::Kubernetes => self.kube_creds(plan)?,
            Form::Systemd => self.systemd_creds(plan)?,
            Form::Setcap => self.user_creds(plan),
        };
        self.exec_check(form, creds, &self.file(plan))
    }

    /// Executes the program's file as `creds` in the model.
    fn exec_check(&self, form: Form, creds: Creds, file: &FileState) -> Result<(), String> {
        let caller = Caller {
            creds,
            ..Caller::default()
        };
        let simulation = simulate(&caller, file, self.kernel);
        match shortfall(self.needed, &caller.creds, &simulation) {
            None => Ok(()),
            Some(short) => Err(short.sentence(form, &caller.creds, file)),
        }
    }

    /// The program's file as the plan leaves it: with `setcap`, its security.capability replaced by a v2
    /// value carrying the needed set, permitted and effective (what `setcap NEEDED=ep` writes).
    fn file(&self, plan: &Plan) -> FileState {
        let mut file = self.facts.file.clone();
        if plan.setcap {
            file.xattr = Some(self.setcap_xattr());
        }
        file
    }

    fn setcap_state(&self) -> CapState {
        CapState {
            effective: self.needed,
            inheritable: CapSet::EMPTY,
            permitted: self.needed,
        }
    }

    fn setcap_xattr(&self) -> Vec<u8> {
        // Effective covers permitted ∪ inheritable, so libcap's rule always accepts this state.
        FileCaps::from_state(self.setcap_state(), None)
            .map(|caps| caps.encode())
            .unwrap_or_default()
    }

    /// `setcap cap_net_bind_service=ep '/path'`: libcap's text, the path quoted for a POSIX shell.
    fn setcap_command(&self) -> String {
        let text = self.setcap_state().to_text(self.known);
        let program = self.facts.program.as_bytes();
        // A path starting with `-` would be read as an option; `./-x` is the same file.
        let program = if program.first() == Some(&b'-') {
            [b"./", program].concat()
        } else {
            program.to_vec()
        };
        match crate::restore::shell_word(&program) {
            (None, word) => format!("setcap {text} {word}"),
            (Some(prelude), word) => format!("{prelude}; setcap {text} {word}"),
        }
    }

    /// The setcap line, for a non-root user with a non-empty needed set: checked as that user holding no
    /// capabilities and a full bounding set, executing the file with the new xattr. When the model refuses
    /// it (a nosuid mount), systemd's ambient capabilities, which do not depend on the file, are the instead.
    fn setcap(&self) -> Option<Advice> {
        let user = self.facts.user.as_ref().filter(|u| u.uid != 0)?;
        if self.needed.is_empty() {
            return None;
        }
        let config = format!(
            "{}\n# the kernel ignores file capabilities under no_new_privs (NoNewPrivileges=yes, \
             allowPrivilegeEscalation: false, --security-opt no-new-privileges)",
            self.setcap_command()
        );
        let plan = Plan {
            user: Some(user.clone()),
            no_new_privs: false,
            setcap: true,
        };
        Some(match self.check(Form::Setcap, &plan) {
            Ok(()) => Advice {
                config,
                works: true,
                why: None,
                instead: None,
            },
            Err(why) => {
                let ambient = self.traced_plan();
                let instead = self
                    .check(Form::Systemd, &ambient)
                    .is_ok()
                    .then(|| self.systemd_lines(&ambient));
                Advice {
                    config,
                    works: false,
                    why: Some(why),
                    instead,
                }
            }
        })
    }

    /// A plain user's process: no capabilities, every one in its bounding set.
    fn user_creds(&self, plan: &Plan) -> Creds {
        Creds {
            uid: Ids::all(plan.uid()),
            gid: Ids::all(plan.gid()),
            groups: plan
                .user
                .as_ref()
                .map(|u| u.groups.clone())
                .unwrap_or_default(),
            bounding: self.every(),
            no_new_privs: plan.no_new_privs,
            ..Creds::default()
        }
    }

    // Docker.

    /// `--cap-drop=ALL --cap-add=…`, the user always named (`--user 0:0` for root: the image's USER, which
    /// the model cannot see, would decide otherwise), `--security-opt no-new-privileges`.
    fn docker_flags(&self, plan: &Plan) -> String {
        let mut flags = vec!["--cap-drop=ALL".to_string()];
        flags.extend(
            Form::Docker
                .cap_names(self.needed)
                .iter()
                .map(|name| format!("--cap-add={name}")),
        );
        flags.push(format!("--user {}:{}", plan.uid(), plan.gid()));
        if plan.no_new_privs {
            flags.push(Form::Docker.no_new_privs_setting().to_string());
        }
        flags.join(" ")
    }

    /// moby's OCI process for those flags, as runc applies it, judged by the rules that give a non-root
    /// user least (before Docker 25.0: the list in its bounding set only), so that what works there works
    /// on every Docker.
    fn docker_creds(&self, plan: &Plan) -> Result<Creds, String> {
        if let Some(cap) = self.needed.iter().find(|cap| cap.name().is_none()) {
            return Err(format!(
                "Docker has no name for capability {}, so --cap-add cannot grant it",
                cap.bit()
            ));
        }
        let process = crate::docker::oci_process(
            crate::docker::MobyVersion::OLDEST,
            self.needed,
            (plan.uid(), plan.gid()),
            plan.no_new_privs,
        );
        oci::apply(&process, &RuntimeStart::full(self.known)).map_err(refusal)
    }

    // Kubernetes.

    /// drop ALL, add the needed set, the user always named (runAsUser: 0 for root, for the reason Docker's
    /// `--user 0:0` is given), allowPrivilegeEscalation false under no_new_privs.
    fn kube_context(&self, plan: &Plan) -> KubeContext {
        KubeContext {
            run_as_user: Some(plan.uid()),
            run_as_group: Some(plan.gid()),
            allow_privilege_escalation: !plan.no_new_privs,
            capabilities: KubeCapabilities {
                drop: vec!["ALL".to_string()],
                add: Form::Kubernetes.cap_names(self.needed),
            },
        }
    }

    /// containerd's CRI translation of the context (capcore::k8s), then runc.
    fn kube_creds(&self, plan: &Plan) -> Result<Creds, String> {
        let context = self.kube_context(plan);
        let container = k8s::PodContainer {
            workload: "Pod/captrace".to_string(),
            name: "program".to_string(),
            init: false,
            host_users: true,
            pod: k8s::SecurityContext::default(),
            container: k8s::SecurityContext {
                run_as_user: context.run_as_user.map(i64::from),
                run_as_group: context.run_as_group.map(i64::from),
                capabilities: Some(k8s::Capabilities {
                    add: context.capabilities.add,
                    drop: context.capabilities.drop,
                }),
                allow_privilege_escalation: Some(context.allow_privilege_escalation),
                ..k8s::SecurityContext::default()
            },
        };
        let process =
            k8s::translate(&container, k8s::Runtime::Containerd, self.known, None)?.process;
        let oci = process.to_oci();
        oci::apply(&oci, &RuntimeStart::full(self.known)).map_err(refusal)
    }

    // systemd.

    /// `CapabilityBoundingSet=`, `AmbientCapabilities=` for a non-root user, `User=`, `NoNewPrivileges=yes`.
    fn systemd_lines(&self, plan: &Plan) -> String {
        let names = Form::Systemd.cap_names(self.needed).join(" ");
        let mut lines = vec![format!("CapabilityBoundingSet={names}")];
        if plan.non_root() && !self.needed.is_empty() {
            lines.push(format!("AmbientCapabilities={names}"));
        }
        if let Some(user) = &plan.user {
            lines.push(format!("User={}", unit_user(user)));
        }
        if plan.no_new_privs {
            lines.push("NoNewPrivileges=yes".to_string());
        }
        lines.join("\n")
    }

    /// The lines read back as systemd reads a unit (capcore::unit, capcore::service), then the credentials
    /// systemd gives the main process: bounding = CapabilityBoundingSet=, ambient (and inheritable) =
    /// AmbientCapabilities= within it, permitted kept across the uid change only for ambient capabilities,
    /// effective everything for root.
    fn systemd_creds(&self, plan: &Plan) -> Result<Creds, String> {
        let unit = format!("[Service]\n{}\n", self.systemd_lines(plan));
        let parsed = crate::unit::parse(unit.as_bytes())
            .map_err(|e| format!("systemd would not load these lines: {e}"))?;
        let mut service = Service::default();
        service.apply(&parsed.assignments, "recommendation", "program.service");
        if let Some(skipped) = parsed
            .warnings
            .iter()
            .map(|w| w.text.clone())
            .chain(service.notes.lines())
            .next()
        {
            return Err(format!("systemd would skip part of these lines: {skipped}"));
        }
        if service.user != plan.user.as_ref().map(unit_user) {
            return Err("systemd would read User= as another user".to_string());
        }
        let every = self.every();
        let bounding = service
            .bounding()
            .map_or(every, |bits| CapSet::from_bits(bits) & every);
        let ambient = CapSet::from_bits(service.ambient) & bounding;
        let root = plan.uid() == 0;
        Ok(Creds {
            uid: Ids::all(plan.uid()),
            gid: Ids::all(plan.gid()),
            groups: plan
                .user
                .as_ref()
                .map(|u| u.groups.clone())
                .unwrap_or_default(),
            inheritable: ambient,
            permitted: if root || !ambient.is_empty() {
                every
            } else {
                CapSet::EMPTY
            },
            effective: if root { every } else { CapSet::EMPTY },
            bounding,
            ambient,
            no_new_privs: service.no_new_privileges,
            ..Creds::default()
        })
    }
}

/// `User=` takes the name when systemd would read it back as that name (no specifier, space, quote or
/// control character, and not all digits, which would be a uid), else the uid.
fn unit_user(user: &RunUser) -> String {
    match &user.name {
        Some(name)
            if !name.is_empty()
                && name.len() <= 256
                && !name.starts_with('-')
                && !name.bytes().all(|b| b.is_ascii_digit())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) =>
        {
            name.clone()
        }
        _ => user.uid.to_string(),
    }
}

/// The context as a `securityContext:` block, two spaces per level.
fn kube_yaml(context: &KubeContext) -> String {
    let mut out = String::from("securityContext:\n");
    if let Some(uid) = context.run_as_user {
        out.push_str(&format!("  runAsUser: {uid}\n"));
    }
    if let Some(gid) = context.run_as_group {
        out.push_str(&format!("  runAsGroup: {gid}\n"));
    }
    out.push_str(&format!(
        "  allowPrivilegeEscalation: {}\n  capabilities:\n",
        context.allow_privilege_escalation
    ));
    for (key, names) in [
        ("drop", &context.capabilities.drop),
        ("add", &context.capabilities.add),
    ] {
        if names.is_empty() {
            out.push_str(&format!("    {key}: []\n"));
        } else {
            out.push_str(&format!("    {key}:\n"));
            for name in names {
                out.push_str(&format!("      - {name}\n"));
            }
        }
    }
    out.pop();
    out
}

fn refusal(refusal: oci::Refusal) -> String {
    format!(
        "runc stops before the program runs ({}): {}",
        refusal.message, refusal.why
    )
}

/// Why the model's exec leaves the program short.
enum Shortfall {
    Fails(String),
    Missing(CapSet, String),
}

/// `None` when the exec succeeds with every needed capability effective and permitted.
fn shortfall(needed: CapSet, creds: &Creds, sim: &Simulation) -> Option<Shortfall> {
    let after = match &sim.result {
        Ok(after) => after,
        Err(err) => return Some(Shortfall::Fails(err.to_string())),
    };
    let missing = needed - (after.creds.effective & after.creds.permitted);
    let first = missing.iter().next()?;
    // The model's own reason for the first missing capability: why it is not permitted, else not effective.
    let subject = if after.creds.permitted.contains(first) {
        Subject::Effective
    } else {
        Subject::Permitted
    };
    let model = sim
        .trace
        .caps
        .iter()
        .find(|why| why.cap == first && why.set == subject)
        .map(|why| why.why.clone())
        .or_else(|| {
            // Never offered: what the model made of the file's capabilities says why.
            sim.trace
                .steps
                .iter()
                .find(|step| step.rule == "commoncap.c:get_file_caps")
                .map(|step| step.text.clone())
        })
        .unwrap_or_else(|| {
            if creds.bounding.contains(first) {
                "nothing grants it at exec".to_string()
            } else {
                "it is not in the bounding set".to_string()
            }
        });
    Some(Shortfall::Missing(missing, model))
}

impl Shortfall {
    /// One sentence, in the form's words where the cause is a known trap.
    fn sentence(&self, form: Form, creds: &Creds, file: &FileState) -> String {
        let (missing, model) = match self {
            Shortfall::Fails(err) => {
                return format!("the exec of the program's file fails in the model: {err}")
            }
            Shortfall::Missing(missing, model) => (*missing, model),
        };
        let names = form.cap_names(missing).join(", ");
        let non_root = creds.uid.effective != 0;
        if !missing.is_subset(creds.bounding) {
            format!(
                "{} leaves {names} out of the bounding set, so no exec can grant {}",
                form.runtime(),
                them(missing)
            )
        } else if non_root && creds.no_new_privs && file.xattr.is_some() {
            format!(
                "{} sets no_new_privs, under which the kernel ignores the file capabilities that would grant \
                 {names} to uid {}",
                form.no_new_privs_setting(),
                creds.uid.effective
            )
        } else if non_root
            && creds.ambient.is_empty()
            && file.xattr.is_none()
            && matches!(form, Form::Docker | Form::Kubernetes)
        {
            format!(
                "a non-root container gets {names} only in its bounding set: {} sets no ambient capabilities, \
                 so uid {} executing a file without file capabilities keeps none of {}",
                form.runtime(),
                creds.uid.effective,
                them(missing)
            )
        } else {
            format!("after the exec the model leaves {names} out of the effective set: {model}")
        }
    }
}

fn them(set: CapSet) -> &'static str {
    if set.len() == 1 {
        "it"
    } else {
        "them"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::FsUserNs;
    use proptest::prelude::*;

    const KNOWN: u32 = 41;

    fn user(uid: u32, name: &str) -> RunUser {
        RunUser {
            uid,
            gid: uid,
            groups: vec![uid],
            name: Some(name.to_string()),
        }
    }

    fn facts(user: Option<RunUser>, gained: bool) -> RunFacts {
        RunFacts {
            user,
            file: FileState::default(),
            program: "/usr/sbin/prog".to_string(),
            exec_gained_privilege: gained,
            known: KNOWN,
        }
    }

    fn bind() -> CapSet {
        Cap::NET_BIND_SERVICE.into()
    }

    fn xattr(text: &str) -> Vec<u8> {
        let state = CapState::from_text(text, KNOWN).unwrap();
        FileCaps::from_state(state, None).unwrap().encode()
    }

    /// Runs a Kubernetes `securityContext:` block (as printed) through the manifest reader, containerd's
    /// translation, runc and the exec model, independently of the code under test: the effective set after
    /// executing `file`.
    fn kube_effective(block: &str, file: &FileState) -> Result<CapSet, String> {
        let indented: String = block.lines().map(|l| format!("    {l}\n")).collect();
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n{indented}"
        );
        let containers = k8s::parse(&manifest)?;
        let process =
            k8s::translate(&containers[0], k8s::Runtime::Containerd, KNOWN, None)?.process;
        let oci = process.to_oci();
        held_after(
            oci::apply(&oci, &RuntimeStart::full(KNOWN)).map_err(refusal)?,
            file,
        )
    }

    /// What a caller with `creds` holds, effective and permitted, after executing `file` in the model.
    fn held_after(creds: Creds, file: &FileState) -> Result<CapSet, String> {
        let caller = Caller {
            creds,
            ..Caller::default()
        };
        let after = simulate(&caller, file, Kernel::default())
            .result
            .map_err(|e| e.to_string())?;
        Ok(after.creds.effective & after.creds.permitted)
    }

    /// The file state a `# and on the program's file: setcap TEXT PATH` line describes.
    fn file_after_setcap(config: &str) -> FileState {
        file_after_setcap_on(config, &FileState::default())
    }

    fn file_after_setcap_on(config: &str, file: &FileState) -> FileState {
        let line = config
            .lines()
            .find_map(|l| l.split("setcap ").nth(1))
            .expect("a setcap line");
        let text = line.split(' ').next().unwrap();
        FileState {
            xattr: Some(xattr(text)),
            ..file.clone()
        }
    }

    #[test]
    fn root_gets_the_needed_set_from_every_form() {
        let r = recommend(bind(), &facts(None, false));
        assert_eq!(
            r.docker.config,
            "--cap-drop=ALL --cap-add=NET_BIND_SERVICE --user 0:0 --security-opt no-new-privileges"
        );
        assert!(r.docker.works && r.docker.why.is_none() && r.docker.instead.is_none());
        assert_eq!(
            r.kubernetes.config,
            "securityContext:\n  runAsUser: 0\n  runAsGroup: 0\n  allowPrivilegeEscalation: false\n  \
             capabilities:\n    drop:\n      - ALL\n    add:\n      - NET_BIND_SERVICE"
        );
        assert!(r.kubernetes.works);
        assert_eq!(
            kube_effective(&r.kubernetes.config, &FileState::default()),
            Ok(bind())
        );
        assert_eq!(r.kubernetes_context.capabilities.add, ["NET_BIND_SERVICE"]);
        assert!(!r.kubernetes_context.allow_privilege_escalation);
        assert_eq!(
            r.systemd.config,
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes"
        );
        assert!(r.systemd.works);
        assert!(r.setcap.is_none());
        assert_eq!(r.needed, bind());
    }

    #[test]
    fn a_non_root_container_holds_added_capabilities_only_in_its_bounding_set() {
        let f = facts(Some(user(33, "www-data")), false);
        let r = recommend(bind(), &f);

        assert!(r.docker.config.contains("--user 33:33"));
        assert!(!r.docker.works);
        let why = r.docker.why.as_deref().unwrap();
        assert!(
            why.contains("NET_BIND_SERVICE only in its bounding set"),
            "{why}"
        );
        assert!(why.contains("Docker sets no ambient capabilities"), "{why}");
        let instead = r.docker.instead.as_deref().unwrap();
        assert!(instead.starts_with("--cap-drop=ALL --cap-add=NET_BIND_SERVICE --user 33:33\n"));
        assert!(!instead.contains("no-new-privileges"));
        assert!(instead.contains("setcap cap_net_bind_service=ep '/usr/sbin/prog'"));

        assert!(!r.kubernetes.works);
        let why = r.kubernetes.why.as_deref().unwrap();
        assert!(
            why.contains("Kubernetes sets no ambient capabilities"),
            "{why}"
        );
        // The printed configuration really does fail, and the instead really does work.
        assert_eq!(
            kube_effective(&r.kubernetes.config, &FileState::default()),
            Ok(CapSet::EMPTY)
        );
        let instead = r.kubernetes.instead.as_deref().unwrap();
        assert!(instead.contains("runAsUser: 33"));
        assert!(instead.contains("allowPrivilegeEscalation: true"));
        assert_eq!(
            kube_effective(instead, &file_after_setcap(instead)),
            Ok(bind())
        );
        // Without the file capabilities, the same instead grants nothing.
        assert_eq!(
            kube_effective(instead, &FileState::default()),
            Ok(CapSet::EMPTY)
        );

        assert_eq!(
            r.systemd.config,
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n\
             User=www-data\nNoNewPrivileges=yes"
        );
        assert!(r.systemd.works, "{:?}", r.systemd.why);

        let setcap = r.setcap.unwrap();
        assert!(setcap
            .config
            .starts_with("setcap cap_net_bind_service=ep '/usr/sbin/prog'\n#"));
        assert!(setcap.config.contains("no_new_privs"));
        assert!(setcap.works, "{:?}", setcap.why);
    }

    #[test]
    fn an_empty_needed_set_drops_everything() {
        for user in [None, Some(user(1000, "alice"))] {
            let r = recommend(CapSet::EMPTY, &facts(user.clone(), false));
            let uid = user.as_ref().map_or(0, |u| u.uid);
            assert_eq!(
                r.docker.config,
                format!("--cap-drop=ALL --user {uid}:{uid} --security-opt no-new-privileges")
            );
            assert!(r.docker.works && r.kubernetes.works && r.systemd.works);
            assert!(r.kubernetes.config.contains("    add: []"));
            assert!(r.systemd.config.starts_with("CapabilityBoundingSet=\n"));
            assert!(!r.systemd.config.contains("Ambient"));
            assert!(r.setcap.is_none());
            assert_eq!(
                kube_effective(&r.kubernetes.config, &FileState::default()),
                Ok(CapSet::EMPTY)
            );
        }
    }

    #[test]
    fn an_exec_that_gained_privilege_keeps_no_new_privs_off() {
        let r = recommend(bind(), &facts(None, true));
        assert!(!r.docker.config.contains("no-new-privileges"));
        assert!(r
            .kubernetes
            .config
            .contains("allowPrivilegeEscalation: true"));
        assert!(r.kubernetes_context.allow_privilege_escalation);
        assert!(!r.systemd.config.contains("NoNewPrivileges"));
    }

    #[test]
    fn the_model_sees_the_files_own_capabilities_and_set_id_bits() {
        // ping-like: the file carries cap_net_raw=ep; a non-root container with NET_RAW added runs it.
        let mut f = facts(Some(user(1000, "alice")), true);
        f.file.xattr = Some(xattr("cap_net_raw=ep"));
        let raw = CapSet::from(Cap::NET_RAW);
        let r = recommend(raw, &f);
        assert!(r.docker.works, "{:?}", r.docker.why);
        assert!(r.kubernetes.works, "{:?}", r.kubernetes.why);
        assert_eq!(kube_effective(&r.kubernetes.config, &f.file), Ok(raw));

        // The same file under no_new_privs: the kernel ignores its capabilities.
        f.exec_gained_privilege = false;
        let r = recommend(raw, &f);
        assert!(!r.docker.works);
        let why = r.docker.why.as_deref().unwrap();
        assert!(why.contains("no_new_privs"), "{why}");
        let instead = r.docker.instead.as_deref().unwrap();
        assert_eq!(instead, "--cap-drop=ALL --cap-add=NET_RAW --user 1000:1000");

        // Set-uid root: the exec makes the caller root, whose root rule grants the bounding set.
        let mut f = facts(Some(user(1000, "alice")), true);
        f.file.mode = 0o104_755;
        let r = recommend(bind(), &f);
        assert!(r.docker.works, "{:?}", r.docker.why);
        assert!(r.kubernetes.works, "{:?}", r.kubernetes.why);
    }

    #[test]
    fn file_capabilities_on_a_nosuid_mount_do_not_count() {
        let mut f = facts(Some(user(1000, "alice")), false);
        f.file.nosuid = true;
        let r = recommend(bind(), &f);
        let setcap = r.setcap.unwrap();
        assert!(!setcap.works);
        assert!(
            setcap.why.as_deref().unwrap().contains("nosuid"),
            "{:?}",
            setcap.why
        );
        // Ambient capabilities do not depend on the file.
        assert_eq!(setcap.instead.as_deref(), Some(r.systemd.config.as_str()));
        assert!(r.systemd.works);
        // A container can then only run it as root.
        let instead = r.docker.instead.as_deref().unwrap();
        assert!(instead.contains("--user 0:0"), "{instead}");
        let instead = r.kubernetes.instead.as_deref().unwrap();
        assert_eq!(kube_effective(instead, &f.file), Ok(bind()));

        // A file of a foreign user namespace's filesystem is the same.
        let mut f = facts(Some(user(1000, "alice")), false);
        f.file.fs_userns = FsUserNs::Foreign;
        assert!(!recommend(bind(), &f).setcap.unwrap().works);
    }

    #[test]
    fn kubernetes_refuses_sys_admin_with_no_privilege_escalation() {
        let admin = CapSet::from(Cap::SYS_ADMIN);
        let r = recommend(admin, &facts(None, false));
        assert!(!r.kubernetes.works);
        assert!(r
            .kubernetes
            .why
            .as_deref()
            .unwrap()
            .contains("CAP_SYS_ADMIN"));
        let instead = r.kubernetes.instead.as_deref().unwrap();
        assert!(instead.contains("allowPrivilegeEscalation: true"));
        assert_eq!(kube_effective(instead, &FileState::default()), Ok(admin));
        assert!(r.docker.works && r.systemd.works);
    }

    #[test]
    fn several_capabilities_are_listed_in_bit_order() {
        let set = CapSet::from_caps([Cap::NET_RAW, Cap::NET_BIND_SERVICE]);
        let r = recommend(set, &facts(Some(user(1000, "alice")), false));
        assert!(r
            .docker
            .config
            .starts_with("--cap-drop=ALL --cap-add=NET_BIND_SERVICE --cap-add=NET_RAW "));
        assert!(r.systemd.config.starts_with(
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW\n\
             AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW\n"
        ));
        assert!(r
            .kubernetes
            .config
            .contains("      - NET_BIND_SERVICE\n      - NET_RAW"));
        let setcap = r.setcap.unwrap();
        assert!(setcap
            .config
            .starts_with("setcap cap_net_bind_service,cap_net_raw=ep '/usr/sbin/prog'"));
        assert!(setcap.works);
        assert!(r.systemd.works);
    }

    #[test]
    fn names_and_paths_cannot_inject() {
        let mut evil = user(1000, "x\nAmbientCapabilities=CAP_SYS_ADMIN");
        let mut f = facts(Some(evil.clone()), false);
        f.program = "/tmp/it's here".to_string();
        let r = recommend(bind(), &f);
        assert!(r.systemd.config.contains("\nUser=1000"));
        assert!(!r.systemd.config.contains("SYS_ADMIN"));
        assert!(r.systemd.works);
        let setcap = r.setcap.unwrap();
        assert!(setcap
            .config
            .starts_with("setcap cap_net_bind_service=ep '/tmp/it'\\''s here'\n"));
        // An all-digit name would be read back as a uid.
        evil.name = Some("0".to_string());
        f.user = Some(evil);
        f.program = "-dash\n".to_string();
        let r = recommend(bind(), &f);
        assert!(r.systemd.config.contains("\nUser=1000"));
        let config = r.setcap.unwrap().config;
        assert!(
            config.starts_with("p=$(printf '%b_' './-dash\\0012'); p=${p%_}; setcap "),
            "{config}"
        );
        assert_eq!(config.lines().count(), 2);
    }

    #[test]
    fn a_uid_zero_user_is_root() {
        let r = recommend(bind(), &facts(Some(user(0, "root")), false));
        assert!(r.docker.works && r.kubernetes.works && r.systemd.works);
        assert!(!r.systemd.config.contains("Ambient"));
        assert!(r.systemd.config.contains("User=root"));
        assert!(r.setcap.is_none());
    }

    /// moby's state for `docker run --cap-drop=ALL --cap-add=… --user U:G [--security-opt no-new-privileges]`,
    /// read back from the printed flags and built by the one rule capcore::docker uses too.
    fn docker_effective(flags: &str, file: &FileState) -> Result<CapSet, String> {
        let words: Vec<&str> = flags.lines().next().unwrap_or("").split(' ').collect();
        let mut caps = CapSet::EMPTY;
        let (mut uid, mut gid, mut nnp) = (None, 0, false);
        for (i, word) in words.iter().enumerate() {
            if let Some(name) = word.strip_prefix("--cap-add=") {
                caps = caps.with(Cap::parse_lenient(name).map_err(|e| e.input)?);
            } else if *word == "--user" {
                let (u, g) = words[i + 1].split_once(':').unwrap();
                uid = Some(u.parse::<u32>().unwrap());
                gid = g.parse().unwrap();
            } else if *word == "no-new-privileges" {
                nnp = true;
            }
        }
        let uid = uid.expect("the user is always named");
        let process =
            crate::docker::oci_process(crate::docker::MobyVersion::OLDEST, caps, (uid, gid), nnp);
        held_after(
            oci::apply(&process, &RuntimeStart::full(KNOWN)).map_err(refusal)?,
            file,
        )
    }

    fn arb_file() -> impl Strategy<Value = FileState> {
        (
            prop_oneof![
                Just(0o100_755u32),
                Just(0o104_755),
                Just(0o102_755),
                Just(0o106_755)
            ],
            prop_oneof![Just(0u32), Just(1000)],
            prop_oneof![
                Just(None),
                Just(Some(xattr("cap_net_raw=ep"))),
                Just(Some(xattr("cap_net_bind_service,cap_chown=p"))),
                Just(Some(xattr("all=ep"))),
                Just(Some(vec![1, 2, 3])),
            ],
            any::<bool>(),
            prop_oneof![Just(FsUserNs::Initial), Just(FsUserNs::Foreign)],
        )
            .prop_map(|(mode, owner, xattr, nosuid, fs_userns)| FileState {
                mode,
                owner,
                group: owner,
                xattr,
                nosuid,
                fs_userns,
            })
    }

    proptest! {
        /// Whatever the model says works really does, read back from the printed text through independent
        /// paths (the manifest reader for Kubernetes, moby's construction for Docker, libcap's text for
        /// setcap); whatever it says fails has a reason; nothing panics.
        #[test]
        fn what_is_said_to_work_works(
            bits in any::<u64>(),
            uid in prop_oneof![Just(None), Just(Some(0u32)), Just(Some(33)), Just(Some(1000))],
            gained in any::<bool>(),
            file in arb_file(),
        ) {
            let needed = CapSet::from_bits(bits & bits.rotate_left(7) & bits.rotate_left(19)) & CapSet::first_n(KNOWN);
            let mut f = facts(uid.map(|u| user(u, "svc")), gained);
            f.file = file.clone();
            let r = recommend(needed, &f);
            for advice in [&r.docker, &r.kubernetes, &r.systemd].into_iter().chain(r.setcap.as_ref()) {
                prop_assert_eq!(advice.works, advice.why.is_none());
                prop_assert!(advice.works || !advice.why.as_deref().unwrap_or("").is_empty());
                prop_assert!(!(advice.works && advice.instead.is_some()));
            }
            if r.kubernetes.works {
                let got = kube_effective(&r.kubernetes.config, &file);
                prop_assert!(got.is_ok_and(|set| needed.is_subset(set)), "{}", r.kubernetes.config);
            }
            if let Some(instead) = &r.kubernetes.instead {
                let target = if instead.contains("setcap ") { file_after_setcap_on(instead, &file) } else { file.clone() };
                let got = kube_effective(instead, &target);
                prop_assert!(got.is_ok_and(|set| needed.is_subset(set)), "{}", instead);
            }
            if r.docker.works {
                let got = docker_effective(&r.docker.config, &file);
                prop_assert!(got.is_ok_and(|set| needed.is_subset(set)), "{}", r.docker.config);
            }
            if let Some(instead) = &r.docker.instead {
                let target = if instead.contains("setcap ") { file_after_setcap_on(instead, &file) } else { file.clone() };
                let got = docker_effective(instead, &target);
                prop_assert!(got.is_ok_and(|set| needed.is_subset(set)), "{}", instead);
            }
            if let Some(setcap) = r.setcap.as_ref().filter(|s| s.works) {
                let u = f.user.as_ref().unwrap();
                let creds = Creds {
                    uid: Ids::all(u.uid),
                    gid: Ids::all(u.gid),
                    bounding: CapSet::first_n(KNOWN),
                    ..Creds::default()
                };
                let held = held_after(creds, &file_after_setcap_on(&setcap.config, &file));
                prop_assert!(held.is_ok_and(|set| needed.is_subset(set)));
            }
        }
    }

    #[test]
    fn capabilities_the_kernel_lacks_are_never_claimed() {
        let unnamed = CapSet::from(Cap::new(45).unwrap());
        let r = recommend(unnamed, &facts(None, false));
        assert!(!r.docker.works && !r.kubernetes.works && !r.systemd.works);
        assert!(r.docker.instead.is_none() && r.systemd.instead.is_none());
        // A kernel that knows fewer capabilities than asked for.
        let mut f = facts(None, false);
        f.known = 0;
        let r = recommend(bind(), &f);
        assert!(!r.docker.works && !r.systemd.works && !r.kubernetes.works);
    }

    #[test]
    fn several_files_each_get_their_own_setcap_line() {
        let facts = |program: &str| RunFacts {
            user: Some(user(65534, "nobody")),
            file: FileState::default(),
            program: program.to_string(),
            exec_gained_privilege: false,
            known: KNOWN,
        };
        let needed = CapSet::from_caps([Cap::SYS_ADMIN, Cap::NET_RAW]);
        let whole = recommend(needed, &facts("/usr/bin/unshare"));
        let per_file = [
            recommend(Cap::SYS_ADMIN.into(), &facts("/usr/bin/unshare")),
            recommend(Cap::NET_RAW.into(), &facts("/usr/bin/ping")),
        ];
        let merged = with_files(whole, &per_file);
        let instead = merged.docker.instead.as_deref().unwrap();
        assert!(
            instead.contains("--cap-add=NET_RAW --cap-add=SYS_ADMIN"),
            "{instead}"
        );
        assert!(
            instead.contains("setcap cap_sys_admin=ep '/usr/bin/unshare'"),
            "{instead}"
        );
        assert!(
            instead.contains("setcap cap_net_raw=ep '/usr/bin/ping'"),
            "{instead}"
        );
        let setcap = merged.setcap.unwrap().config;
        assert_eq!(setcap.lines().count(), 3, "{setcap}");
        // One file: nothing changes.
        let one = recommend(needed, &facts("/usr/bin/unshare"));
        assert_eq!(with_files(one.clone(), &per_file[..1]), one);
    }
}
