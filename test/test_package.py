# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Package metadata, parameters file and launch files agree with what the package installs.

Each launch file is also checked statically: it compiles, and its Node(...) entries name this
package's installed executable, the installed parameters file and remappings of topics the
node really subscribes to. test_launch.py runs both through ``launch.LaunchService``.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tips_ros.engine import parameters
from tips_ros.engine.parameters import SPECS
from tips_ros.ros.launching import SHARED_OVERRIDES
from tips_ros.tools import parameter_files

REPO = Path(__file__).resolve().parents[1]
NODE_INPUTS = {"image", "image/compressed", "camera_info"}


def launch_nodes(path: Path) -> tuple[list[dict], set[str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    compile(tree, str(path), "exec")
    nodes, arguments = [], set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "DeclareLaunchArgument":
            arguments.add(call.args[0].value)
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Node":
            nodes.append({kw.arg: kw.value for kw in call.keywords})
    return nodes, arguments


def literal_string(node: ast.AST) -> str:
    assert isinstance(node, ast.Constant), ast.dump(node)
    return node.value


def launch_overrides(path: Path) -> dict[str, tuple[str, str]]:
    """Return a launch file's ``OVERRIDES``: argument -> (parameter, value type as written).

    ``**SHARED_OVERRIDES`` entries come from :mod:`tips_ros.ros.launching` (imported: it
    needs no ROS install), the others from the file's source.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    table = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "OVERRIDES")
    overrides = {}
    for key, value in zip(table.keys, table.values):
        if key is None:  # **SHARED_OVERRIDES
            assert ast.unparse(value) == "SHARED_OVERRIDES", ast.unparse(value)
            overrides.update({argument: (name, str(kind).replace("typing.", "") if not
                                         isinstance(kind, type) else kind.__name__)
                              for argument, (name, kind) in SHARED_OVERRIDES.items()})
        else:
            name, kind = value.elts
            overrides[literal_string(key)] = (literal_string(name), ast.unparse(kind))
    return overrides


def test_launch_files_run_the_installed_node():
    files = sorted((REPO / "launch").glob("*.launch.py"))
    assert {f.name for f in files} == {"tips.launch.py", "multi_camera.launch.py"}
    setup = (REPO / "setup.py").read_text()
    assert "tips_node = tips_ros.ros.startup:main" in setup
    _, shared = launch_nodes(REPO / "tips_ros" / "ros" / "launching.py")
    assert shared == {"params_file", "model", "text_model"}
    for path in files:
        nodes, arguments = launch_nodes(path)
        assert nodes, path
        assert "*shared_arguments()" in path.read_text(), path
        overrides = launch_overrides(path)
        assert set(overrides) <= arguments | shared, path  # each override is an argument
        assert {name for name, _ in overrides.values()} <= {s.name for s in SPECS}, overrides
        for node in nodes:
            assert literal_string(node["package"]) == "tips_ros"
            assert literal_string(node["executable"]) == "tips_node"
            assert ast.unparse(node["parameters"]).startswith("node_parameters(context, "
                                                              "OVERRIDES")
            if "remappings" in node:
                sources = {literal_string(pair.elts[0]) for pair in node["remappings"].elts}
                assert sources <= NODE_INPUTS, sources
    _, single_args = launch_nodes(REPO / "launch" / "tips.launch.py")
    assert {"namespace", "image", "camera_info", "compressed"} <= single_args


def launch_type_name(value: object) -> str:
    """Return the launch ``value_type`` that coerces an argument to ``value``'s type."""
    if isinstance(value, list):
        (item,) = {type(v).__name__ for v in value} or {"str"}
        return f"List[{item}]"
    return type(value).__name__


def test_launch_parameter_types_are_ones_launch_accepts_and_match_the_node():
    """Launch parameter value types are ones launch_ros coerces, and the node's types.

    launch_ros coerces ParameterValue(..., value_type=T) only for T in int, float, bool, str
    and typing.List[int|float|bool|str] (launch.utilities.type_utils); anything else, e.g. the
    builtin ``list``, raises ValueError when the launch file is run. T must also be the type
    the node declares for that parameter.
    """
    defaults = {spec.name: spec.default for spec in SPECS}
    scalars = ("int", "float", "bool", "str")
    allowed = {*scalars, *(f"List[{t}]" for t in scalars)}
    checked = 0
    for path in sorted((REPO / "launch").glob("*.launch.py")):
        source = path.read_text()
        for argument, (name, value_type) in launch_overrides(path).items():
            where = (path.name, argument, name, value_type)
            assert value_type in allowed, where
            assert value_type == launch_type_name(defaults[name]), where
            if value_type.startswith("List["):
                assert "from typing import List" in source, path.name
            checked += 1
    assert checked >= 7  # model, text_model (twice), input_compressed, cameras, max_batch


def test_params_file_lists_every_parameter_with_its_default():
    data = yaml.safe_load((REPO / "config" / "tips.yaml").read_text())
    params = data["/**"]["ros__parameters"]
    assert set(params) == {spec.name for spec in SPECS}
    for spec in SPECS:
        assert params[spec.name] == spec.default, spec.name


@pytest.mark.slow
def test_params_file_and_readme_table_are_generated_from_the_specs():
    assert (REPO / "config" / "tips.yaml").read_text() == parameter_files.params_yaml()
    readme = (REPO / "README.md").read_text()
    assert parameter_files.readme_table() in readme
    assert parameter_files.readme_with_table(readme) == readme
    check = subprocess.run([sys.executable, "-m", "tips_ros.tools.parameter_files"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_node_params_and_engine_config_follow_the_specs():
    from tips_ros.engine import EngineConfig

    names = [spec.name for spec in SPECS]
    assert [f.name for f in dataclasses.fields(parameters.NodeParams)] == names
    engine_fields = {f.name for f in dataclasses.fields(EngineConfig)}
    marked = {spec.name for spec in SPECS if spec.engine}
    assert marked == engine_fields & set(names), "mark every EngineConfig parameter engine=True"
    defaults = EngineConfig()
    for name in marked:
        spec = parameters.SPEC_BY_NAME[name]
        assert getattr(defaults, name) == parameters.engine_value(name, spec.default), name
    params = parameters.read_params(lambda name: parameters.SPEC_BY_NAME[name].default)
    params.input_size, params.zeroshot_templates, params.device = 224, ["a {}"], "cpu"
    config = EngineConfig.from_params(params)
    assert (config.input_size, config.zeroshot_templates, config.device) == (224, ("a {}",), "cpu")


def test_package_xml_format3_declares_runtime_and_test_deps():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "tips_ros"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "lifecycle_msgs",
            "python3-numpy", "python3-opencv", "python3-transformers-pip",
            "python3-yaml"} <= exec_deps
    assert "python3-torch" not in exec_deps  # Ubuntu's apt torch is too old (README "Install")
    test_deps = {e.text for e in root.findall("test_depend")}
    assert {"ament_flake8", "ament_pep257", "python3-pytest"} <= test_deps
    assert root.find("export/build_type").text == "ament_python"


def test_setup_cfg_installs_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/tips_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/tips_ros"
    assert (REPO / "resource" / "tips_ros").exists()
    assert (REPO / "config" / "fastdds.xml").exists()


def test_readme_documents_every_parameter_and_output_topic():
    from tips_ros.io.outputs import CORE_TOPICS

    readme = (REPO / "README.md").read_text()
    for spec in SPECS:
        assert f"| `{spec.name}` |" in readme, spec.name
    for topic in CORE_TOPICS:
        assert f"| `{topic}` |" in readme, topic


def test_each_default_model_id_is_written_once_in_the_package():
    homes: dict[str, list[str]] = {}
    for path in sorted((REPO / "tips_ros").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            ids = ("google/tipsv2-b14-dpt", "google/tipsv2-b14")
            if isinstance(node, ast.Constant) and node.value in ids:
                homes.setdefault(node.value, []).append(str(path.relative_to(REPO)))
    assert homes == {name: ["tips_ros/engine/parameters.py"]
                     for name in ("google/tipsv2-b14-dpt", "google/tipsv2-b14")}
