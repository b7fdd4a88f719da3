"""advance, rollback, approve, override, status, history, runbook, decommission: the rollout against live SSM.

Where the data comes from (the same for every command here):
  * WHICH namespace: --namespace NS (or $VOICECTL_NAMESPACE), else the `namespace:` of the registry FILE.
  * WHAT runtimes serve (phases, weights, alarms): the applied `<namespace>/registry` parameter, never the file.
  * The rollout POLICY (bakes, gates, approvals, paths' decision gates, decommission steps) is not compiled into
    the runtime's parameter, so it is read from FILE; advance refuses when FILE is not what is applied.
The clock is read in one place (cli.rollout_context.now): $VOICECTL_NOW (ISO 8601) pins it, for tests and rehearsals.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.markup import escape

from cli import rollout_render as render
from cli.errors import CommandError, ExitCode
from cli.options import EndpointUrl, JsonFlag, Profile, Region
from cli.rollout_context import (
    Actor,
    Ctx,
    FileArg,
    FileOpt,
    MetricsFrom,
    Namespace,
    ReasonOpt,
    actor_name,
    applied,
    check_phase_race,
    judge,
    make_ctx,
    require_applied_phase,
    reread,
    topology_of,
    write_phase,
)
from control_plane.alarms.basis import Basis
from control_plane.aws import live_store
from control_plane.aws.metrics_source import alarm_states
from control_plane.history import history_parameters, merge_history
from control_plane.overrides import (
    clear_overrides,
    clear_runbook_map,
    describe_override,
    internal_first_phase,
    parse_assignment,
    person_override,
    set_override,
)
from control_plane.rollout.decommission import decommission_steps, due_deprecations
from control_plane.rollout.gates import approval_gate_for, param_approval_of
from control_plane.rollout.machine import Step, active_phase, advance_step, rollback_target
from control_plane.runbook import (
    RunbookContext,
    emergency_map,
    guaranteed_at,
    map_json,
    render_runbook,
    resolve_subject,
    verify,
)
from control_plane.status import StatusInput, build_status
from registry.errors import GuardRefused, UsageError
from registry.live_state import (
    ApprovalRecord,
    DeprecationRecord,
    LiveState,
    PhaseRecord,
    live_state_from_parameters,
    param_deprecation,
    param_runbook,
)


def advance(
    file: FileArg = None,
    to: Annotated[str | None, typer.Option("--to", help="Target phase (default: the next one).")] = None,
    path: Annotated[str | None, typer.Option("--path", help="Take this alternative path at its decision gate.")] = None,
    reason: ReasonOpt = "",
    force: Annotated[bool, typer.Option("--force", help="Advance although the guard refuses (needs --reason; "
                                        "recorded as action 'force').")] = False,
    namespace: Namespace = None, actor: Actor = None, metrics_from: MetricsFrom = "cloudwatch",
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Move the rollout one phase forward, only when it is safe.

    Advances when the active phase's bake has elapsed, every gate holds over the bake window (missing data holds),
    each approval gate has a sign-off (voicectl approve), no alarm of the registry is in ALARM, no override or
    runbook map is active, and FILE is what is applied. Otherwise exits 3 listing every failed condition and when
    it could pass. Before any advance was ever made the first phase is active; the first advance records it
    (action 'init') and starts its bake.

    Sources: the namespace is --namespace, else FILE's; phases and weights come from the applied
    `<namespace>/registry` parameter (what runtimes serve); bakes, gates and paths come from FILE, which is
    therefore required (except with --force) and must be the applied one. Gate data: --metrics-from.
    """
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    if force and not reason.strip():
        raise CommandError("--force needs --reason",
                           next_step="say why the guard is overridden: it goes to the audit log")
    if ctx.policy is None and not force:
        raise CommandError("advance checks the gates written in the registry file",
                         next_step="pass the applied registry FILE (or --force --reason to skip the guard)")
    values = live_store.read_namespace(ctx.ssm, ctx.namespace)
    state = live_state_from_parameters(ctx.namespace, values)
    compiled = applied(ctx, state)
    topology = topology_of(ctx, compiled)
    current = active_phase(topology, state.phase)
    step = advance_step(topology, current, to=to, path=path)
    require_applied_phase(compiled, step.target)
    record = state.phase
    if record is None:
        record = PhaseRecord(phase=current, action="init", actor=actor_name(actor), at=ctx.now,
                             reason=f"first advance: the rollout starts at {current}")
        write_phase(ctx, record)
        ctx.out.hint(f"initialised: {current} is active since {ctx.now.isoformat()} (its bake starts now)")
    decision = judge(ctx, values, state, step, record.at, metrics_from) if ctx.policy else None
    if decision and not json_out:
        render.decision(ctx.out, step, decision)
    refused = decision is not None and not decision.allowed
    result: dict[str, object] = {"namespace": ctx.namespace, "from": step.current, "to": step.target,
                                 "path": step.path, "decision": decision.to_dict() if decision else None}
    if refused and not force:
        assert decision is not None
        if json_out:
            ctx.out.data({**result, "advanced": False})
        earliest = decision.earliest
        raise GuardRefused(
            f"advance {step.current} -> {step.target} refused: " + "; ".join(r.message for r in decision.reasons),
            could_pass_at=earliest.isoformat() if earliest else None)
    forced = [r.code.value for r in decision.reasons] if decision else ["guard not evaluated (no FILE)"]
    new = PhaseRecord(phase=step.target, path=step.path, action="force" if force and (refused or not decision)
                      else "advance", actor=actor_name(actor), at=ctx.now, previous=step.current,
                      reason=reason + (f" [forced past: {', '.join(forced)}]" if force and forced else ""))
    version = write_phase(ctx, new)
    check_phase_race(ctx, version, record)
    render.moved(ctx.out, new, reread(ctx, state), version, result, json_out)


def rollback(
    file: FileArg = None,
    to: Annotated[str | None, typer.Option("--to", help="Target phase (default: the previous one).")] = None,
    reason: ReasonOpt = "",
    namespace: Namespace = None, actor: Actor = None, json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Move the rollout back (default: the previous phase). Always allowed: no bake, gate or alarm is checked.

    Overrides stay in place; clear them separately once the cause is fixed.
    """
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    topology = topology_of(ctx, applied(ctx, state))
    current = active_phase(topology, state.phase)
    target = rollback_target(topology, current, state.phase, to=to)
    require_applied_phase(applied(ctx, state), target)
    new = PhaseRecord(phase=target, path=topology.locate(target)[0], action="rollback", actor=actor_name(actor),
                      reason=reason, at=ctx.now, previous=current)
    version = write_phase(ctx, new)
    check_phase_race(ctx, version, state.phase)
    render.moved(ctx.out, new, reread(ctx, state), version,
                 {"namespace": ctx.namespace, "from": current, "to": target}, json_out)


def approve(
    phase: Annotated[str, typer.Argument(help="The phase whose approval gate is signed off.", show_default=False)],
    file: FileArg = None,
    score: Annotated[float, typer.Option("--score", help="The rating, e.g. 4.2 (of the gate's max_score).")] = -1,
    by: Annotated[str, typer.Option("--by", help="Who rated (person or panel).")] = "",
    approval: Annotated[str | None, typer.Option("--approval", help="Which approval gate (if several).")] = None,
    note: Annotated[str, typer.Option("--note", help="Free text kept with the sign-off.")] = "",
    namespace: Namespace = None, json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Record a manual sign-off for a phase's approval gate (the memo's quality rating >= 4/5).

    Only a sign-off recorded while the phase is active counts; the guard compares the score with min_score.
    """
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    if state.registry is not None and phase != active_phase(topology_of(ctx, state.registry), state.phase):
        ctx.out.warning(f"{phase} is not the active phase: a sign-off counts only if recorded while it is active")
    if not by.strip() or score < 0:
        raise CommandError("approve needs --score and --by",
                           next_step=f"e.g. voicectl approve {phase} --score 4.2 --by qa")
    if ctx.policy is not None:
        approval = approval_gate_for(ctx.policy, phase, approval, score).approval
    if not approval:
        raise CommandError("without the registry FILE, name the gate with --approval", next_step="or pass FILE")
    record = ApprovalRecord(phase=phase, approval=approval, score=score, by=by, at=ctx.now, note=note)
    version = live_store.put_record(ctx.ssm, param_approval_of(ctx.namespace, phase, approval), record,
                                    description=f"{approval} of {phase}: {score:g} by {by}")
    if json_out:
        ctx.out.data({**record.model_dump(mode="json"), "version": version})
    else:
        ctx.out.show(f"recorded: {phase} {approval} = {score:g} by {by} (version {version})")


override_app = typer.Typer(help="Force a variant's share by hand (separate from alarm reverts), list or clear.",
                           no_args_is_help=True)


@override_app.command("set")
def override_set(
    assignment: Annotated[str, typer.Argument(help="VARIANT=SHARE, e.g. sonic-unified=0.", show_default=False)],
    reason: ReasonOpt = "", file: FileOpt = None, namespace: Namespace = None, actor: Actor = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an alarm's revert (needs --reason).")] = False,
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Pin VARIANT to SHARE percent of traffic; the others share the rest in proportion (baseline if none).

    Refuses (exit 3) to replace an alarm's revert unless --force --reason, and when the override changed while
    this was decided (a revert that lands meanwhile is put back)."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    variant, share = parse_assignment(assignment, applied(ctx, state))
    record = person_override(variant, share, actor=actor_name(actor), reason=reason, at=ctx.now)
    outcome = set_override(ctx.ssm, ctx.namespace, record, force=force)
    after = reread(ctx, outcome.before, own=variant)
    if outcome.replaced is not None and outcome.replaced.reverting_alarms:
        ctx.out.warning(f"replaced the revert of alarm {', '.join(outcome.replaced.reverting_alarms)}: CloudWatch "
                        "acts on state changes only, so it reverts again only after going OK and firing anew")
    for other in outcome.overwritten:
        ctx.out.warning(f"replaced an override written meanwhile: {escape(describe_override(other))}")
    render.override_written(ctx.out, record, outcome.version, after, json_out)


@override_app.command("clear")
def override_clear(
    variant: Annotated[str | None, typer.Argument(help="The variant (default: every override).")] = None,
    reason: ReasonOpt = "", file: FileOpt = None, namespace: Namespace = None, actor: Actor = None,
    force: Annotated[bool, typer.Option("--force", help="Clear although the alarm that reverted is still in "
                                        "ALARM.")] = False,
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Delete overrides (alarm reverts or by hand): the variant gets the active phase's weight back.

    Clearing an alarm's revert needs --reason and checks every alarm that reverted the variant: refused (exit 3)
    while one is in ALARM, unless --force (CloudWatch acts on state changes only, so nothing would revert the
    variant again); for each OK alarm it says whether the OK rests on data or only on missing data (no traffic
    since the revert), and offers the safer way back. SSM drops a deleted parameter's history, so each clear is
    first recorded in `<namespace>/rollout/audit`. The runbook map is separate: voicectl runbook clear.
    """
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    outcome = clear_overrides(ctx.ssm, ctx.clients.cloudwatch, ctx.namespace, variant, actor=actor_name(actor),
                              reason=reason, force=force, at=ctx.now)
    render.cleared(ctx.out, outcome, json_out)
    if outcome.restored:
        raise CommandError("; ".join(f"alarm {', '.join(a)} reverted {v} while it was being cleared: the revert is "
                                     f"restored" for v, a in sorted(outcome.restored.items())),
                           next_step="check the alarm (voicectl alarms list) before clearing again",
                           exit_code=ExitCode.GUARD_REFUSED)
    if json_out:
        return
    for judgement in outcome.judgements:
        if judgement.basis is not Basis.DATA:
            _safer_way_back(ctx, outcome.before, outcome.cleared)
            break
    if outcome.cleared:
        ctx.out.hint("the active phase's bake restarts now: its gates are judged on data from this point on")
    for name in outcome.pinned_by_runbook:
        ctx.out.warning(f"{name} is still pinned by the runbook map: voicectl runbook clear --reason ...")


def _safer_way_back(ctx: Ctx, state: LiveState, variants: list[str]) -> None:
    """After clearing a revert whose alarm's OK rests on no data, the commands that bring traffic back slowly."""
    if state.registry is None:
        return
    phase = state.phase.phase if state.phase else (state.registry.phases[0].name if state.registry.phases else "")
    ns = shlex.quote(ctx.namespace)
    for name in variants:
        lines = [f"safer way back for {name}: a small re-canary share, judged on fresh data",
                 f"  voicectl override set {shlex.quote(name)}=1 --force --reason 're-canary' --namespace {ns}"]
        internal = internal_first_phase(state.registry, phase, name)
        if internal:
            lines.append(f"  or internal callers first: voicectl rollback --to {internal} --namespace {ns} "
                         "--reason 'internal first'")
        ctx.out.hint("\n".join(lines))


@override_app.command("list")
def override_list(
    file: FileOpt = None, namespace: Namespace = None, json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Active overrides (alarm reverts and by hand) and the runbook map, with who, why and when."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    render.overrides(ctx.out, state, json_out)


def status(
    file: FileArg = None, namespace: Namespace = None, metrics_from: MetricsFrom = "cloudwatch",
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """The live rollout: active phase, what runtimes serve, overrides, alarms, the next phase's gates.

    Shows the active phase and since when, bake remaining, the effective weights runtimes serve after overrides,
    the overrides (who, why, when), the runbook map, alarm states, the next phase's gates (value vs limit; needs
    FILE), and due decommission steps (needs FILE). Exits 1 when a live value does not parse (shown with how
    runtimes read it: a malformed override as that variant at 0%, a malformed runbook map as all to the baseline)."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    values = live_store.read_namespace(ctx.ssm, ctx.namespace)
    state = live_state_from_parameters(ctx.namespace, values)
    compiled = applied(ctx, state)
    topology = topology_of(ctx, compiled)
    current = active_phase(topology, state.phase)
    entered_at = state.phase.at if state.phase else ctx.now
    decision, nxt, note, steps = None, None, "", []
    known = current in topology.all_phases()
    step: Step | None = None
    try:
        step = advance_step(topology, current)
        nxt = step.target
    except UsageError as exc:
        note = exc.what if known else (f"the active phase {current} is not in the registry: runtimes serve the "
                                          "baseline; run voicectl rollback --to PHASE")
    if ctx.policy is not None:
        if step is not None:
            try:
                decision = judge(ctx, values, state, step, entered_at, metrics_from)
            except UsageError as exc:  # status must show what it can, e.g. while FILE and SSM disagree
                note = exc.what
        policy_phase = ctx.policy.phase(current)
        if policy_phase is not None:
            steps = decommission_steps(policy_phase, entered_at, ctx.now, state.deprecated)
    else:
        note = note or "pass the registry FILE to judge the next phase's gates"
    alarms = alarm_states(ctx.clients.cloudwatch, sorted(compiled.alarms)) if compiled.alarms else {}
    doc = build_status(StatusInput(ctx.namespace, state, current, topology.locate(current)[0] if known else None,
                                   state.phase.at if state.phase else None, ctx.now, nxt, decision, alarms,
                                   steps, note))
    if json_out:
        ctx.out.data(doc)
    else:
        render.status(ctx.out, doc)
    if state.problems:
        raise CommandError(f"{len(state.problems)} live value(s) do not parse: " + "; ".join(state.problems),
                           next_step="rewrite each value (voicectl override set / runbook emergency-revert) or clear "
                                     "it", exit_code=ExitCode.INVALID_INPUT)


def history(
    file: FileArg = None, namespace: Namespace = None, json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Every phase change, override, revert, approval and runbook-map write, oldest first, from SSM parameter
    history (time, actor, action, reason).

    SSM keeps the last 100 versions of a parameter and loses ALL history of a deleted one; override and runbook
    clears are therefore also recorded in `<namespace>/rollout/audit`.
    """
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    names = history_parameters(ctx.namespace, live_store.read_namespace(ctx.ssm, ctx.namespace))
    events = merge_history(ctx.namespace, [v for n in names for v in live_store.parameter_versions(ctx.ssm, n)])
    render.history(ctx.out, events, json_out)


runbook_app = typer.Typer(help="The on-call runbook with live values; emergency revert, verify, clear.",
                          invoke_without_command=True)


@runbook_app.callback()
def runbook(
    typer_ctx: typer.Context, file: FileOpt = None, namespace: Namespace = None,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Print the on-call runbook filled with live values: what is active, what reverted, the commands to type."""
    if typer_ctx.invoked_subcommand is not None:
        return
    ctx = make_ctx(file, namespace, endpoint_url, region, profile)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    compiled = applied(ctx, state)
    topology = topology_of(ctx, compiled)
    current = active_phase(topology, state.phase)
    try:
        previous: str | None = rollback_target(topology, current, state.phase)
    except UsageError:
        previous = None
    alarms = alarm_states(ctx.clients.cloudwatch, sorted(compiled.alarms)) if compiled.alarms else {}
    typer.echo(render_runbook(RunbookContext(ctx.namespace, state, current, state.phase.at if state.phase else None,
                                             alarms, previous, ctx.now)), nl=False)


@runbook_app.command("emergency-revert")
def emergency_revert(
    reason: ReasonOpt = "", file: FileOpt = None, namespace: Namespace = None, actor: Actor = None,
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Send all traffic to the baseline now: write the memo's variant_overrides map (every variant with traffic
    to 0, the baseline to 100) and print when every runtime is guaranteed to serve it (write time + cache TTL)."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    if not reason.strip():
        raise CommandError("emergency-revert needs --reason", next_step="say what you saw: it goes to the audit log")
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    compiled = applied(ctx, state)
    current = active_phase(topology_of(ctx, compiled), state.phase)
    pins = emergency_map(compiled, current)
    name = param_runbook(ctx.namespace)
    version = live_store.put_value(ctx.ssm, name, map_json(pins),
                                   description=f"emergency revert by {actor_name(actor)}: {reason}")
    written = live_store.last_modified(ctx.ssm, name) or ctx.now
    by = guaranteed_at(written, compiled.cache_ttl_seconds)
    after = verify(state.model_copy(update={"runbook": pins}))
    render.emergency(ctx.out, name, pins, version, written, by, after, json_out)


@runbook_app.command("verify")
def runbook_verify(
    file: FileOpt = None, namespace: Namespace = None,
    subjects: Annotated[int, typer.Option("--subjects", min=0, help="Also run the runtime's assignment for this "
                                          "many synthetic callers per audience (0: skip).")] = 10000,
    subject: Annotated[str | None, typer.Option("--subject", help="Which variant this caller gets now.")] = None,
    internal: Annotated[bool, typer.Option("--internal", help="--subject is an internal caller.")] = False,
    json_out: JsonFlag = False, endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Read back what a runtime resolves now: effective weights per audience (external, internal), the split the
    runtime's own assignment gives synthetic callers (eligibility included), and that every pin (override or
    runbook map) is honoured; exit 1 if not, or if a value does not parse (runtimes then read a malformed override
    as that variant at 0% and a malformed runbook map as everything to the baseline)."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    result = verify(state, subjects=subjects)
    resolved = resolve_subject(state, subject, internal=internal) if subject else None
    render.verification(ctx.out, result, json_out, subject, resolved)
    if not result.ok:
        raise CommandError("verify failed: " + "; ".join(t for ok, t in result.checks if not ok),
                           exit_code=ExitCode.INVALID_INPUT,
                           next_step="fix what is listed above (voicectl runbook prints the commands)")


@runbook_app.command("clear")
def runbook_clear(
    reason: ReasonOpt = "", file: FileOpt = None, namespace: Namespace = None, actor: Actor = None,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """End the emergency: replace the runbook map (variant_overrides) by an empty one, recorded in its SSM history.

    The parameter is kept, with its type, so the memo's `aws ssm put-parameter ... --overwrite` (no --type) still
    works next time: real SSM refuses a put without a type only when it creates the parameter."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile)
    result = clear_runbook_map(ctx.ssm, ctx.namespace, actor=actor_name(actor), reason=reason, at=ctx.now)
    if result.was is None:
        ctx.out.show("no runbook map is set")
        return
    ctx.out.show(f"cleared the runbook map (was {escape(result.was)}; now {{}}, version {result.version})")
    ctx.out.hint("the active phase's bake restarts now: its gates are judged on data from this point on")


decommission_app = typer.Typer(help="The last phase's decommission steps.", no_args_is_help=True)


@decommission_app.command("run")
def decommission_run(
    file: FileArg = None, yes: Annotated[bool, typer.Option("--yes", help="Record them (else: only show).")] = False,
    reason: ReasonOpt = "", namespace: Namespace = None, actor: Actor = None, json_out: JsonFlag = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
) -> None:
    """Record the due deprecations of the active phase (runtimes stop assigning those variants). keep_warm and
    scale_to_zero are listed for the deployment to carry out. Needs FILE (the steps live there)."""
    ctx = make_ctx(file, namespace, endpoint_url, region, profile, json_out)
    if ctx.policy is None:
        raise CommandError("decommission steps are written in the registry file", next_step="pass FILE")
    state = live_store.read_live_state(ctx.ssm, ctx.namespace)
    compiled = applied(ctx, state)
    current = active_phase(topology_of(ctx, compiled), state.phase)
    policy_phase = ctx.policy.phase(current)
    steps = decommission_steps(policy_phase, state.phase.at if state.phase else ctx.now, ctx.now,
                               state.deprecated) if policy_phase else []
    recorded = []
    for step in due_deprecations(steps) if yes else []:
        if step.variant == compiled.baseline:
            ctx.out.warning(f"deprecating the baseline {step.variant}: reverts will have nowhere safe to go; "
                            "set baseline: to the new production variant in the file and apply it")
        live_store.put_record(ctx.ssm, param_deprecation(ctx.namespace, step.variant), DeprecationRecord(
            variant=step.variant, actor=actor_name(actor), reason=reason or step.description, at=ctx.now))
        recorded.append(step.variant)
    if recorded and policy_phase is not None:  # show the state after this run
        steps = decommission_steps(policy_phase, state.phase.at if state.phase else ctx.now, ctx.now,
                                   state.deprecated | set(recorded))
    render.decommission(ctx.out, current, steps, recorded, yes, json_out)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the voicectl app."""
    for command in (advance, rollback, approve, status, history):
        app.command()(command)
    app.add_typer(override_app, name="override")
    app.add_typer(runbook_app, name="runbook")
    app.add_typer(decommission_app, name="decommission")
