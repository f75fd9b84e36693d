"""Bundled scenarios: small real training runs that replay classic confusions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .base import Scenario
from .history_vs_console import SCENARIO as HISTORY_VS_CONSOLE
from .lstm_constant_predictions import SCENARIO as LSTM_CONSTANT_PREDICTIONS
from .multi_head_metrics import SCENARIO as MULTI_HEAD_METRICS

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (HISTORY_VS_CONSOLE, MULTI_HEAD_METRICS, LSTM_CONSTANT_PREDICTIONS)
}

#: What plain ``kmon`` runs when there is no terminal to show the menu on.
DEFAULT_SCENARIO = HISTORY_VS_CONSOLE.name


class UnknownScenario(LookupError):
    """A scenario or variant name that does not exist; the message lists valid ones."""


def find(
    name: str, variant: str | None = None, *, among: dict[str, Scenario] | None = None
) -> tuple[Scenario, str]:
    """Look up a scenario and variant by name (in ``among``, default: the bundled ones).

    Raises:
        UnknownScenario: with a one-line message naming the valid choices.
    """
    choices = SCENARIOS if among is None else among
    scenario = choices.get(name)
    if scenario is None:
        raise UnknownScenario(f"unknown scenario {name!r}; choose from: {', '.join(choices)}")
    chosen = variant or scenario.default_variant
    if chosen not in scenario.variants:
        raise UnknownScenario(
            f"unknown variant {chosen!r} of {name}; choose from: {', '.join(scenario.variants)}"
        )
    return scenario, chosen


class ScenarioFolderError(ValueError):
    """A user's scenario folder cannot be loaded; the message is one line."""


def load_folder(folder: str | Path) -> dict[str, Scenario]:
    """Load user scenarios: every ``*.py`` in ``folder`` that defines ``SCENARIO``.

    A user scenario is a module like the bundled ones (see :mod:`.base`): a
    ``SCENARIO = Scenario(...)`` whose ``train(variant)`` builds, compiles and fits.

    Raises:
        ScenarioFolderError: the folder is missing, a module fails to import, or it
            holds no scenario.
    """
    path = Path(folder)
    if not path.is_dir():
        raise ScenarioFolderError(f"no such scenario folder: {folder}")
    found: dict[str, Scenario] = {}
    for module_path in sorted(path.glob("*.py")):
        module_name = f"kmon_user_scenario_{module_path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, module_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any error in user code becomes one line
            raise ScenarioFolderError(
                f"cannot load scenario {module_path}: {type(exc).__name__}: {exc}"
            ) from None
        except BaseException as exc:  # noqa: BLE001 - sys.exit() or a raise in user code
            # Not an error, so it would end kmon silently (rc 0 for sys.exit()).
            raise ScenarioFolderError(
                f"cannot load scenario {module_path}: raised {_call_form(exc)} on import"
            ) from None
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    if not found:
        raise ScenarioFolderError(f"no SCENARIO defined in any .py file of {folder}")
    return found


def _call_form(exc: BaseException) -> str:
    """``SystemExit(3)``, ``KeyboardInterrupt()``: the exception as it was raised."""
    return f"{type(exc).__name__}({', '.join(repr(arg) for arg in exc.args)})"
