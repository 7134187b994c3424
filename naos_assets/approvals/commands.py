"""`naos approve`, `naos reject` and `naos approvals`: the human side of the §27 checkpoints.

A decision is recorded in the registry's hash-chained audit trail for the exact artifact hash the review request
named; the CanonDiff's status in the Canon Store follows an approve_canon_diff decision (later episodes fold approved
diffs only). After an approval, `naos render` continues past the checkpoint, or the approvals sensor launches it.
"""

from __future__ import annotations

import argparse
import json

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _say(msg: str) -> None:
    from naos_assets.cli import _say as say

    say(msg)


def _trail():
    from io_managers import AuditTrail
    from naos_assets.cli import naos_home, open_registry

    return AuditTrail(open_registry(naos_home()))


def cmd_decide(args: argparse.Namespace) -> int:
    """Approve or reject the open review of one checkpoint of one episode."""
    from naos_assets.approvals.decide import DecisionError, decide, refresh_views
    from naos_assets.cli import load_checked, naos_home, open_registry

    project = load_checked(args.project, args.episode)
    if project is None:
        return EXIT_BAD_INPUT
    home = naos_home()
    registry = open_registry(home)
    try:
        record, request = decide(registry, home / "canon.duckdb", project.id, args.episode, args.checkpoint,
                                 args.command, args.by, args.note or "")
    except DecisionError as exc:
        _say(f"bad input: --{exc.field}: {exc} (NAOS_HOME={home})")
        return EXIT_BAD_INPUT
    _say(f"{request['checkpoint']}: {record['decision']} the {request['artifact']} of {project.id}/{args.episode} "
         f"({request['artifact_sha256'][:12]}) by {record['by']}; audit record {record['seq']} ({record['sha256'][:12]})")
    problem = refresh_views(home, registry)
    if problem:
        _say(problem)
    if record["decision"] == "approved":
        _say(f"`naos render --project {args.project} --episode {args.episode} ...` continues past the checkpoint "
             f"(the approvals sensor does it for you when the Dagster daemon runs)")
    else:
        _say("the run stays stopped at this checkpoint (exit 3) until the artifact changes or these bytes are approved")
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace) -> int:
    """Open review requests (default), or the whole audit trail (--all), and its chain check (--verify)."""
    from io_managers import AuditError
    from naos_assets.cli import load_checked

    project = load_checked(args.project, args.episode)
    if project is None:
        return EXIT_BAD_INPUT
    trail = _trail()
    if args.verify:
        try:
            head = trail.verify()
        except AuditError as exc:
            _say(f"audit trail BROKEN: {exc}")
            return EXIT_BAD_INPUT
        _say(f"audit trail intact: {len(trail.records())} record(s), head {head}")
    rows = ([r for r in trail.records() if r["project_id"] == project.id] if args.all
            else trail.pending(project.id, args.episode))
    if args.episode is not None:
        rows = [r for r in rows if r["episode_id"] == args.episode]
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return EXIT_OK
    for r in rows:
        state = "pending" if r["decision"] == "requested" and not args.all else r["decision"]
        print(f"{r['seq']:>5}  {r['at']}  {r['episode_id']:<10} {r['checkpoint']:<30} {state:<9} "
              f"{r['artifact']} {r['artifact_sha256'][:12]}  by {r['by']}{'  - ' + r['note'] if r['note'] else ''}")
    if not rows:
        _say("no open review requests" if not args.all else "the audit trail has no records for this project")
    return EXIT_OK


def add_parsers(sub) -> None:
    from naos_assets.cli import add_project_arg
    from schemas import CHECKPOINTS

    for name, verb in (("approve", "approve"), ("reject", "reject")):
        p = sub.add_parser(name, help=f"{verb} the open review of a §27 checkpoint (recorded in the audit trail)")
        add_project_arg(p)
        p.add_argument("--episode", required=True)
        p.add_argument("--checkpoint", choices=CHECKPOINTS, help="the checkpoint to decide (default: the only one the "
                                                                "episode waits at)")
        p.add_argument("--by", required=True, help="who decides (recorded)")
        p.add_argument("--note", help="reviewer's note (recorded)")
        p.set_defaults(func=cmd_decide)
    p = sub.add_parser("approvals", help="open review requests, or the audit trail (--all) and its check (--verify)")
    add_project_arg(p)
    p.add_argument("--episode")
    p.add_argument("--all", action="store_true", help="every request and decision, oldest first")
    p.add_argument("--verify", action="store_true", help="check the audit trail's hash chain (exit 2 if broken)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_approvals)
