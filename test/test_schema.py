"""The one parameter schema: everything that reads parameters agrees with it."""

from __future__ import annotations

import glob
import os
from dataclasses import fields

import pytest

from distopt_ros.config import load_params, node_matches, read_sections, yaml_value
from distopt_ros.core.registry import ALGORITHM_SPECS
from distopt_ros.core.scenario import SwarmConfig, make_swarm
from distopt_ros.core.schema import (
    README_BEGIN,
    README_END,
    SCHEMA,
    ParameterError,
    check_values,
    group,
    live_parameters,
    markdown_table,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_readme_table_is_generated_from_the_schema():
    text = open(os.path.join(ROOT, "README.md")).read()
    table = text.split(README_BEGIN)[1].split(README_END)[0].strip()
    assert table == markdown_table(), "run: python -m distopt_ros.core.schema --readme README.md"


def test_swarm_config_is_the_scenario_group():
    assert [(f.name, f.default) for f in fields(SwarmConfig)] == [(p.name, p.default) for p in group("scenario")]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_SPECS))
def test_every_agents_tunables_are_the_schemas_live_list(algorithm):
    problem = {"coupled": "microgrid", "price": "allocation"}.get(algorithm, "fusion")
    topology = "directed_ring" if algorithm == "qudrc" else "ring"
    agents = make_swarm(SwarmConfig(algorithm=algorithm, problem=problem, topology=topology, num_robots=4))
    for agent in agents.values():
        assert set(agent.tunable) <= set(live_parameters(algorithm))
        for name in agent.tunable:
            assert SCHEMA[name].is_live(algorithm) and SCHEMA[name].used_by(algorithm)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "config", "*.yaml"))),
                         ids=os.path.basename)
def test_every_shipped_config_passes_the_schema(path):
    for _, params in read_sections(path):
        check_values(params)
    assert load_params(path)


@pytest.mark.parametrize("value,wording", [
    (("rho", 0), "rho must be a finite number > 0, got 0"),
    (("alpha", 1), "alpha must be a finite number in (0, 1), got 1"),
    (("num_robots", 2.5), "num_robots must be an integer in [2, 100000], got 2.5"),
    (("qos_preset", "lossy"), "qos_preset must be one of '' (none), reliable, lossy_radio, got 'lossy'"),
    (("tolerance", "1e-6"), "tolerance must be a finite number >= 0, got '1e-6'"),
    (("residual_balancing", 1), "residual_balancing must be true or false, got 1"),
    (("noise_std", [0.1, -1]), "noise_std must be a list of finite numbers, each >= 0, got [0.1, -1]"),
    (("step_decay", 0.4), "step_decay must be 0 or a finite number in (0.5, 1], got 0.4"),
])
def test_one_wording_for_every_refusal(value, wording):
    name, v = value
    with pytest.raises(ParameterError) as err:
        SCHEMA[name].check(v)
    assert str(err.value) == wording


def test_integers_are_fine_for_floats_and_text_is_typed_like_a_parameter_file():
    assert SCHEMA["rho"].check(2) == 2.0 and isinstance(SCHEMA["rho"].check(2), float)
    assert yaml_value("1e-6") == 1e-6 and yaml_value("5E3") == 5000.0 and yaml_value("'1'") == "1"
    assert SCHEMA["tolerance"].parse("1e-6") == 1e-6
    assert SCHEMA["topology"].parse("ring") == "ring"


@pytest.mark.parametrize("pattern,fqn,match", [
    ("/**", "/robot_3/robot_node", True),
    ("/**/robot_node", "/robot_3/robot_node", True),
    ("/**/robot_node", "/a/b/robot_3/robot_node", True),
    ("robot_node", "/robot_3/robot_node", False),
    ("robot_node", "/robot_node", True),
    ("/robot_3/robot_node", "/robot_3/robot_node", True),
    ("robot_3/robot_node", "/robot_3/robot_node", True),
    ("/*/robot_node", "/robot_3/robot_node", True),
    ("/*/robot_node", "/a/robot_3/robot_node", False),
    ("/robot_3/robot_node", "/robot_4/robot_node", False),
])
def test_node_sections_match_as_in_ros2(pattern, fqn, match):
    assert node_matches(pattern, fqn) is match
