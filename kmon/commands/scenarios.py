"""The bundled scenarios' commands: `kmon run`, `kmon list`, and `kmon` alone (the
menu at a terminal, else the default scenario)."""

from __future__ import annotations

import argparse
import sys

from kmon.commands.launch import launch, open_session
from kmon.errors import PROG, UserError
from kmon.terminal_check import has_terminal, runs_headless


def without_command(args: argparse.Namespace) -> int:
    """`kmon` alone: the scenario menu at a terminal, else the default scenario."""
    if has_terminal():
        return menu(args)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """`kmon run NAME`: a scenario's variant, explained, live or headless."""
    from kmon.engine.run.targets import CallableTarget
    from kmon.scenarios import DEFAULT_SCENARIO, UnknownScenario, find

    try:
        scenario, variant = find(
            args.name or DEFAULT_SCENARIO, args.variant, among=offered_scenarios(args)
        )
    except UnknownScenario as exc:
        raise UserError(str(exc)) from None
    headless = args.quiet or runs_headless(args.headless)
    return launch(
        CallableTarget.for_scenario(scenario, variant),
        args,
        headless=headless,
        quiet_keras=variant not in scenario.keras_output,
        evaluate_training_data=scenario.evaluate_training_data,
        scenario=(scenario, variant),
    )


def menu(args: argparse.Namespace) -> int:
    """The scenario menu: pick one, watch it, come back."""
    from kmon.engine.run.targets import CallableTarget
    from kmon.tui.menu import MenuFailed, run_menu

    def make_session(scenario, variant):
        return open_session(
            CallableTarget.for_scenario(scenario, variant),
            args,
            quiet_keras=variant not in scenario.keras_output,
            evaluate_training_data=scenario.evaluate_training_data,
        )

    try:
        return run_menu(
            offered_scenarios(args),
            make_session,
            mouse=not args.no_mouse,
            runs_dir=args.runs_dir,
        )
    except MenuFailed as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def list_scenarios(args: argparse.Namespace) -> int:
    """`kmon list`: each scenario, its question and its variants; with ``--json``,
    the scenarios, their variants and claims as JSON (docs/scenarios.md)."""
    from kmon.engine.format import printable

    offered = offered_scenarios(args)
    if getattr(args, "json", False):
        import json

        print(json.dumps([scenario_record(scenario) for scenario in offered.values()], indent=2))
        return 0
    # A user scenario's texts come from its file (--from DIR): printed as text only.
    for scenario in offered.values():
        print(f"{printable(scenario.name)}: {printable(scenario.title)}")
        print(f"    {printable(scenario.question)}")
        for variant, description in scenario.variants.items():
            print(f"    --variant {printable(variant)}: {printable(description)}")
        if scenario.claims:
            print(f"    {len(scenario.claims)} claims checked (kmon list --json)")
    return 0


def scenario_record(scenario) -> dict:
    """One scenario as ``kmon list --json`` prints it."""
    return {
        "name": scenario.name,
        "title": scenario.title,
        "variants": [
            {
                "name": name,
                "description": description,
                "replays": scenario.replays.get(name),
            }
            for name, description in scenario.variants.items()
        ],
        "claims": [
            {
                "text": claim.text,
                "source": claim.source,
                "variant": claim.variant,
                "verdict": claim.verdict,
            }
            for claim in scenario.claims
        ],
    }


def offered_scenarios(args: argparse.Namespace) -> dict:
    """The bundled scenarios, plus (and overridden by) those of ``--from DIR``."""
    from kmon.scenarios import SCENARIOS, ScenarioFolderError, load_folder

    if not args.from_dir:
        return dict(SCENARIOS)
    try:
        return {**SCENARIOS, **load_folder(args.from_dir)}
    except ScenarioFolderError as exc:
        raise UserError(str(exc)) from None
