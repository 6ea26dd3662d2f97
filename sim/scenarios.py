"""Scenario definitions: which robot, what it is asked to do, who walks where (a registry name -> builder).

Mobile-base scenarios: the base starts at the world origin facing +x and is asked to drive straight at
``request`` m/s (the ``cmd_vel_in`` a planner would send). Arm scenarios: the cell at the origin is asked to
run at full override. Builders are deterministic functions of a seed (small variations of speeds and start
points, ``jitter``); ``motions`` maps motion names to clips (e.g. {'walk': a mocap walk}).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .motions import Motion
from .people import Actor, Hold, Walk


@dataclass(frozen=True)
class Scenario:
    """One closed-loop run.

    Attributes:
        name, description: registry name and one line for the table.
        robot: robot registry name (:data:`sim.robots.ROBOTS`).
        duration: simulated seconds.
        request: requested linear speed (base, m/s) or speed fraction (arm).
        actors: the people.
        expect_no_stop: goal: zero stops (nobody comes near).
        cell_guard: goal (arm): zero speed whenever a joint is inside the reach envelope.
    """

    name: str
    description: str
    robot: str
    duration: float
    request: float
    actors: tuple[Actor, ...]
    expect_no_stop: bool = False
    cell_guard: bool = False


def _jit(rng: np.random.Generator, v: float, rel: float = 0.03) -> float:
    return float(v * (1.0 + rel * rng.standard_normal()))


def _pt(rng: np.random.Generator, x: float, y: float, s: float = 0.05) -> tuple[float, float]:
    return (float(x + s * rng.standard_normal()), float(y + s * rng.standard_normal()))


Builder = Callable[[np.random.Generator, dict], Scenario]


def walk_toward(rng, motions) -> Scenario:
    p = Actor("walker", _pt(rng, 10.0, 0.0), math.pi,
              (Walk(_pt(rng, 3.0, 0.0), _jit(rng, 1.2)), Hold(3.0, "stand", (0.0, 0.0)),
               Walk(_pt(rng, 3.0, 4.5), _jit(rng, 1.2))), dict(motions))
    return Scenario("walk_toward", "person walks toward the driving base, stops 3 m from its start for 3 s, leaves",
                    "mobile_base", 12.0, 1.0, (p,))


def cross(rng, motions) -> Scenario:
    p = Actor("crosser", _pt(rng, 4.5, -4.5), math.pi / 2, (Walk(_pt(rng, 4.5, 4.5), _jit(rng, 1.3)),), dict(motions))
    return Scenario("cross", "person crosses the base's path 4.5 m ahead", "mobile_base", 10.0, 1.0, (p,))


def stand_in_way(rng, motions) -> Scenario:
    p = Actor("stander", _pt(rng, 4.0, 0.2), math.pi,
              (Hold(9.0, "stand", (0.0, 0.0)), Walk(_pt(rng, 4.0, 4.5), _jit(rng, 1.1))), dict(motions))
    return Scenario("stand_in_way", "person stands in the path 4 m ahead for 9 s, then steps aside",
                    "mobile_base", 14.0, 1.0, (p,))


def sit_down(rng, motions) -> Scenario:
    p = Actor("sitter", _pt(rng, 7.5, 4.0), -2.0,
              (Walk(_pt(rng, 5.5, 2.1), _jit(rng, 1.1)), Hold(20.0, "sit", (5.5, 0.0))), dict(motions))
    return Scenario("sit_down", "person walks to 2.1 m beside the path and sits down as the base passes",
                    "mobile_base", 11.0, 1.0, (p,))


def leave(rng, motions) -> Scenario:
    p = Actor("leaver", _pt(rng, 1.9, 0.0), 0.0,
              (Hold(1.5, "stand", 0.0), Walk(_pt(rng, 5.0, 0.0), _jit(rng, 1.3)), Walk(_pt(rng, 6.5, 5.0), _jit(rng, 1.3))),
              dict(motions))
    return Scenario("leave", "person 1.9 m ahead of the standing base walks away and out of the path",
                    "mobile_base", 11.0, 1.0, (p,))


def empty(rng, motions) -> Scenario:
    return Scenario("empty", "nobody in the scene", "mobile_base", 8.0, 1.0, (), expect_no_stop=True)


def person_far(rng, motions) -> Scenario:
    p = Actor("far", _pt(rng, 6.5, 3.6), 0.0, (Walk(_pt(rng, 30.0, 3.6), _jit(rng, 1.2)),), dict(motions))
    return Scenario("person_far", "person walks ahead of the base, 3.6 m to the side (never near)",
                    "mobile_base", 10.0, 1.0, (p,), expect_no_stop=True)


def reach_into_cell(rng, motions) -> Scenario:
    # The camera (zones_arm.yaml) looks from the loading side back at the arm: the operator comes from the
    # far side of the table, in view, and reaches over it.
    p = Actor("operator", _pt(rng, -3.6, 1.4), 0.0,
              (Walk(_pt(rng, -1.35, 0.0), _jit(rng, 1.0)), Hold(3.0, "reach", (0.0, 0.0)), Hold(1.0, "stand"),
               Walk(_pt(rng, -3.6, -1.4), _jit(rng, 1.0))), dict(motions))
    return Scenario("reach_into_cell", "operator walks up to the table and reaches into the arm's cell",
                    "arm_cell", 10.0, 1.0, (p,), cell_guard=True)


SCENARIOS: dict[str, Builder] = {f.__name__: f for f in (
    walk_toward, cross, stand_in_way, reach_into_cell, sit_down, leave, empty, person_far)}


def make_scenario(name: str, seed: int = 0, motions: dict[str, Motion] | None = None) -> Scenario:
    """The scenario ``name`` built deterministically from ``seed``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario '{name}' (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name](np.random.default_rng(seed), dict(motions or {}))
